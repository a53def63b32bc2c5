// mvau_xnsub: one channel's XNOR count, less n0, in the fully parallel XNOR mvau (fastinference;
// mvau.sv with SF = NF = 1, +-1 weights on bits and the weights as a parameter: XnSub).
//
// With x the KR real input bits, W the channel's weights (1 = +1), n1 / n0 its +1 / -1 lanes, P1 /
// P0 the ones of x on them and T = popcount(x) (t_i, shared by every channel), the XNOR count is
// S = P1 + (n0 - P0) = n0 + 2*P1 - T = n0 + T - 2*P0. This module counts x on the fewer of the two
// lane sets only (at most KR / 2 bits, picked by constant indices: wiring) in a single-bit
// mvau_popcount and returns s_o = S - n0 (the mvau folds n0 into the thresholds or biases).
// T must arrive in the cycle the count does (Regs registers after x_i, as the popcount).
//
// A module per channel, not the selection inline in mvau's per-channel loop: Yosys evaluates the
// constant functions below in the scope of their module, and in mvau's (every channel's
// localparams in it) the elaboration grew with the square of the channels (PE 64: 144 s).
module mvau_xnsub #(
  parameter int             SIMD = 3,
  parameter int             KR   = 3,    // real lanes (the rest: pads, unused)
  parameter logic [SIMD-1:0] W   = '0,   // the channel's weight bits
  parameter int             PopW = 2,    // bits of a count of KR bits
  parameter int             AccW = 4,
  parameter int             Regs = 1
) (
  input  logic            clk_i,
  input  logic            en_i,
  input  logic [SIMD-1:0] x_i,
  input  logic [PopW-1:0] t_i,
  output logic [AccW-1:0] s_o
);

  localparam int IdxW = (SIMD > 1) ? $clog2(SIMD) : 1;   // a lane index 0 .. SIMD-1

  function automatic int wones(input logic [SIMD-1:0] w);
    int n;
    n = 0;
    for (int s = 0; s < KR; s++) n = n + (w[s] ? 1 : 0);
    wones = n;
  endfunction
  // the real lanes with weight bit pick, in order, IdxW bits each
  function automatic logic [SIMD*IdxW-1:0] widx(input logic [SIMD-1:0] w, input bit pick);
    logic [SIMD*IdxW-1:0] v;
    int j;
    v = '0;
    j = 0;
    for (int s = 0; s < KR; s++) begin
      if (w[s] == pick) begin
        v[j*IdxW +: IdxW] = IdxW'(s);
        j = j + 1;
      end
    end
    widx = v;
  endfunction

  localparam int N1   = wones(W);
  localparam bit Pick = (2 * N1 <= KR);   // count x on the +1 lanes (else on the -1 lanes)
  localparam int NSel = Pick ? N1 : KR - N1;
  localparam logic [SIMD*IdxW-1:0] Idx = widx(W, Pick);

  logic [PopW-1:0] ps;   // P: the ones of x on the picked lanes
  if (NSel > 0) begin : g_p
    logic [NSel-1:0] xsel;
    for (genvar j = 0; j < NSel; j++) begin : g_j
      assign xsel[j] = x_i[Idx[j*IdxW +: IdxW]];
    end
    mvau_popcount #(.N(NSel), .OutW(PopW), .Regs(Regs), .Bits1(1'b1)) u_pop (
      .clk_i (clk_i),
      .en_i  (en_i),
      .in_i  (xsel),
      .sum_o (ps)
    );
    logic unused_x;   // (the lanes of the other weight)
    assign unused_x = ^x_i;
  end else begin : g_p0
    assign ps = '0;
    logic unused_in;
    assign unused_in = ^{x_i, clk_i, en_i};
  end

  // S - n0 = 2*P1 - T, or T - 2*P0
  if (Pick) begin : g_p1
    assign s_o = AccW'({ps, 1'b0}) - AccW'(t_i);
  end else begin : g_p0s
    assign s_o = AccW'(t_i) - AccW'({ps, 1'b0});
  end

endmodule
