// mvau_pmsel: one channel's pair term in the fully parallel mvau for +-1 weights on integers
// (fastinference; mvau.sv pair mode, PmPair, with SF = NF = 1: constant weights).
//
// The mvau computes, once per input pair (x_a, x_b) and shared by every channel, P = x_a + x_b
// (sum_i) and D = x_a - x_b (dif_i). A channel with weights (w_a, w_b) (1 = +1) needs
// w_a * x_a + w_b * x_b = +-P or +-D; its term is (w_a == w_b ? P : D) ^ {~w_a} (~V = -V - 1;
// the mvau corrects the -1s per step). w_i is a constant once synthesis has folded the weight
// word: the term is P, ~P, D or ~D, plain wiring (or one inverter absorbed by the next adder).
//
// Why a module: fastinference synth flattens it (synth.FLATTEN_CELLS), so Yosys elaborates one
// small module once per width and instantiates it per channel and pair instead of elaborating
// the select inline in mvau's per-channel loop. Purely combinational.
module mvau_pmsel #(
  parameter int W = 10   // width of P, D and the term (two's complement)
) (
  input  logic [W-1:0] sum_i,   // P = x_a + x_b
  input  logic [W-1:0] dif_i,   // D = x_a - x_b
  input  logic [1:0]   w_i,     // {w_b, w_a}, 1 = +1 (a constant in synthesis)
  output logic [W-1:0] term_o
);

  assign term_o = ((w_i[0] == w_i[1]) ? sum_i : dif_i) ^ {W{~w_i[0]}};

endmodule
