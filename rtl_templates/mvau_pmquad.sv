// mvau_pmquad: one channel's quad sums in the folded mvau's pair mode for +-1 weights on
// integers (fastinference; mvau.sv PmPair with 2..16 steps, g_quad).
//
// Pair mode shares P = x_a + x_b and D = x_a - x_b of every input pair between the channels;
// a channel's pair term is (w_a == w_b ? P : D) ^ {W{~w_a}} (~V = -V - 1; the mvau corrects
// the -1s). Quad i is the sum of the terms of pairs 2i and 2i+1. This module gets pair 2i's
// term already selected (ta_i) and selects pair 2i+1's term itself from its P (sum_i), D
// (dif_i) and the step's select bits (eq_i = w_a == w_b, inv_i = ~w_a), then adds.
//
// Why a module of its own (the hardware reason): Yosys keeps the hierarchy (fastinference
// synth) and maps each module alone. Here each adder bit's propagate LUT is
// ta ^ ((eq ? P : D) ^ inv), five inputs, one LUT, and the carry chain's DI input is ta, a port:
// no LUT. Inline in the mvau, ABC kept both pair terms as LUTs of their own and the propagate
// as a third one (two LUT4 and a LUT2 per quad bit instead of one LUT6 and one LUT5: about
// 170 LUT per channel more at the digits MLP's layer 0, target 16).
// Purely combinational: the mvau registers the quads (and, for RegEvery 1, the inputs).
module mvau_pmquad #(
  parameter int N  = 1,    // quads
  parameter int W  = 10,   // width of a pair term, P and D (two's complement)
  parameter int QW = 11    // width of a quad sum (W + 1, or less: wraps modulo 2^QW)
) (
  input  logic [N*W-1:0]  ta_i,    // pair 2i's term
  input  logic [N*W-1:0]  sum_i,   // pair 2i+1's P
  input  logic [N*W-1:0]  dif_i,   // pair 2i+1's D
  input  logic [N-1:0]    eq_i,    // pair 2i+1: select P (else D)
  input  logic [N-1:0]    inv_i,   // pair 2i+1: invert the selected sum
  output logic [N*QW-1:0] quad_o
);

  // one process over all quads (Icarus: one write of quad_o)
  always_comb begin : p_quad
    logic [W-1:0]    tb;
    logic [N*QW-1:0] qv;
    for (int i = 0; i < N; i++) begin
      tb = (eq_i[i] ? sum_i[i*W +: W] : dif_i[i*W +: W]) ^ {W{inv_i[i]}};
      // ta first: the adder's first operand is the carry chain's DI input (Yosys xc7 $alu)
      qv[i*QW +: QW] = QW'($signed(ta_i[i*W +: W])) + QW'($signed(tb));
    end
    quad_o = qv;
  end

endmodule
