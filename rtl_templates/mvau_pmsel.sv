// mvau_pmsel: one channel's pair terms in the fully parallel mvau for +-1 weights on integers
// (fastinference; mvau.sv pair mode, PmPair, with SF = NF = 1: constant weights).
//
// The mvau computes, once per input pair (x_a, x_b) and shared by every channel, P = x_a + x_b
// (sum_i) and D = x_a - x_b (dif_i). A channel with weights (w_a, w_b) (1 = +1) needs
// w_a * x_a + w_b * x_b = +-P or +-D; its term is (w_a == w_b ? P : D) ^ {~w_a} (~V = -V - 1).
// ~P and ~D are one too low for each negative w_a; a negative w_b's -1 is not covered, so the
// module also gives neg_o, the count of negative odd-lane weights, which the mvau subtracts.
// w_i is a constant once synthesis has folded the weight word: each term is P, ~P, D or ~D,
// plain wiring (or one inverter absorbed by the next adder), and neg_o is a constant.
//
// Why one module per channel over all its pairs: fastinference synth flattens it
// (synth.FLATTEN_CELLS), and Yosys elaborates it once per parameter set (the weights are a
// port, not a parameter), so the select and the count cost nothing per channel in the front
// end. Inline in mvau's per-channel loop (or one instance per pair, with per-pair wires) the
// elaboration grew superlinearly with PE x pairs (layer 0 of the digits MLP at PE 128 did not
// elaborate in 15 CPU minutes). One process over all pairs (Icarus: one write of term_o).
// Purely combinational.
module mvau_pmsel #(
  parameter int N    = 1,    // pairs
  parameter int SIMD = 2,    // lanes (2N or 2N - 1: the last pair's lane b is a pad, x_b = 0)
  parameter int W    = 10,   // width of P, D and each term (two's complement)
  parameter int CntW = 8     // width of neg_o
) (
  input  logic [N*W-1:0]  sum_i,   // P = x_a + x_b per pair
  input  logic [N*W-1:0]  dif_i,   // D = x_a - x_b per pair
  input  logic [SIMD-1:0] w_i,     // lane weights, 1 = +1 (a constant in synthesis)
  output logic [N*W-1:0]  term_o,
  output logic [CntW-1:0] neg_o    // negative weights in lanes 1, 3, 5, ...
);

  // the weights padded to 2N lanes: a pad lane b takes lane a's weight, so that equal weights
  // select P (its x_b is 0); it is not counted
  logic [2*N-1:0] wp;
  if (2 * N > SIMD) begin : g_pad
    assign wp = {w_i[SIMD-1], w_i};
  end else begin : g_nopad
    assign wp = w_i;
  end

  always_comb begin : p_sel
    logic [N*W-1:0]  tv;
    logic [CntW-1:0] nv;
    nv = '0;
    for (int i = 0; i < N; i++) begin
      tv[i*W +: W] = ((wp[2*i] == wp[2*i + 1]) ? sum_i[i*W +: W] : dif_i[i*W +: W])
                     ^ {W{~wp[2*i]}};
      // (not CntW'(~w): a size cast extends its operand before the ~, giving all ones)
      if (2 * i + 1 < SIMD) nv = nv + (wp[2*i + 1] ? CntW'(0) : CntW'(1));
    end
    term_o = tv;
    neg_o  = nv;
  end

endmodule
