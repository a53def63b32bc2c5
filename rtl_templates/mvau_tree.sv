// mvau_tree: pipelined sum of N operands of InW bits (fastinference), the adder / popcount
// tree of the mvau.
//
// A balanced binary tree of Levels levels (N <= 2^Levels; the mvau passes $clog2(N)). A node
// at level l (leaves: level 0) is InW + l bits wide, capped at OutW: the width grows with the
// depth (compressor style) instead of every node being accumulator-wide. A node whose width is
// capped wraps modulo 2^OutW, which is exact as long as the final total fits OutW bits (two's
// complement): the mvau's accumulator width guarantees that. Operand i at in_i[i*InW +: InW],
// sign-extended if Signed, else zero-extended (InW = 2, Signed = 0: a popcount of 3:2
// compressed bits).
//
// Pipelining: the output of every level l with (Lv0 + l) % RegEvery == 0 is a register, enabled
// by en_i (the mvau's global stall; Lv0: levels already summed before the operands arrive, 1
// when the mvau adds the first level itself). Every operand passes the same levels (a node with a single child
// still counts as a level), so the latency is Levels / RegEvery cycles (integer division) for
// all of them; the root itself is combinational unless Levels % RegEvery == 0. RegFrom > 0:
// every level l with Lv0 + l >= RegFrom is a register too (the wide upper levels, where two
// chained adders of 13+ bits miss the ECP5 clock: the mvau's PairQ tree in its WRomLut flow);
// the latency is then the number of registered levels, all operands alike.
// Throughput: one sum per enabled cycle. No back-pressure of its own (en_i freezes it).
// Datapath flops have no reset.
module mvau_tree #(
  parameter int N        = 4,
  parameter int InW      = 2,
  parameter int OutW     = 16,
  parameter bit Signed   = 1'b0,
  parameter int Levels   = 2,
  parameter int RegEvery = 2,
  parameter int Lv0      = 0,
  parameter int RegFrom  = 0
) (
  input  logic             clk_i,
  input  logic             en_i,
  input  logic [N*InW-1:0] in_i,
  output logic [((InW + Levels < OutW) ? InW + Levels : OutW)-1:0] sum_o
);

  localparam int SumW = (InW + Levels < OutW) ? InW + Levels : OutW;

  if (Levels == 0) begin : g_leaf
    // a single operand (N == 1): resized to SumW (SumW <= InW here)
    if (SumW < InW) begin : g_trunc
      logic unused_hi;
      assign unused_hi = ^in_i[InW-1:SumW];
    end
    assign sum_o = in_i[SumW-1:0];
    logic unused_clk;
    assign unused_clk = clk_i ^ en_i;
  end else begin : g_node
    localparam int HalfCap = 1 << (Levels - 1);
    localparam int NL      = (N < HalfCap) ? N : HalfCap;
    localparam int NR      = N - NL;
    localparam int ChildW  = (InW + Levels - 1 < OutW) ? InW + Levels - 1 : OutW;

    logic [ChildW-1:0] lo, hi;
    logic [SumW-1:0]   lo_x, hi_x, s;

    mvau_tree #(.N(NL), .InW(InW), .OutW(OutW), .Signed(Signed), .Levels(Levels - 1),
                .RegEvery(RegEvery), .Lv0(Lv0), .RegFrom(RegFrom)) u_lo (
      .clk_i (clk_i),
      .en_i  (en_i),
      .in_i  (in_i[NL*InW-1:0]),
      .sum_o (lo)
    );

    if (NR > 0) begin : g_hi
      mvau_tree #(.N(NR), .InW(InW), .OutW(OutW), .Signed(Signed), .Levels(Levels - 1),
                  .RegEvery(RegEvery), .Lv0(Lv0), .RegFrom(RegFrom)) u_hi (
        .clk_i (clk_i),
        .en_i  (en_i),
        .in_i  (in_i[N*InW-1:NL*InW]),
        .sum_o (hi)
      );
    end else begin : g_no_hi
      assign hi = '0;
    end

    if (SumW > ChildW) begin : g_grow
      assign lo_x = {Signed & lo[ChildW-1], lo};
      assign hi_x = {Signed & hi[ChildW-1], hi};
    end else begin : g_capped
      assign lo_x = lo;
      assign hi_x = hi;
    end
    assign s = lo_x + hi_x;

    if ((Lv0 + Levels) % RegEvery == 0 || (RegFrom > 0 && Lv0 + Levels >= RegFrom)) begin : g_reg
      logic [SumW-1:0] s_q;
      always_ff @(posedge clk_i) begin
        if (en_i) s_q <= s;
      end
      assign sum_o = s_q;
    end else begin : g_comb
      assign sum_o = s;
    end
  end

endmodule
