// mvau_act: activation unit of the mvau (fastinference): multi-threshold or scores, for PE
// channels at once.
//
// Thresholds (Scores = 0), per lane p, from thr_i[p*LaneW +: LaneW] (LaneW = 1 + NThr*AccW):
//   {neg, T[NThr-1], ..., T[0]} with each T two's complement AccW bits, and
//   res_p = OutOffset + #{i : (neg ? ~acc : acc) >= T[i]}   (OutBits bits, wraps)
// One comparator kind: a "<=" channel (acc <= U <=> ~acc >= ~U) arrives with neg = 1 and its
// thresholds already inverted by the writer; the XOR folds into the comparator's LUTs. A
// binary activation is NThr = 1, OutBits = 1, OutOffset = 0.
// Scores (Scores = 1), per lane p, LaneW = 32:
//   res_p = (acc << ScoreShift) + B  (32-bit two's complement; B = thr_i[p*32 +: 32])
//
// Pipelining: the comparisons (or the score sum) are registered (enabled by en_i). The count
// of passed thresholds: NThr <= 7: combinational after that register, latency 1 cycle; more
// thresholds (up to 255): an adder tree (mvau_tree) registered every CntRegEvery levels,
// latency 1 + CntRegs cycles, CntRegs = $clog2(NThr) / CntRegEvery (the mvau delays its
// valid flags by as much). The offset is added after the count. One result per enabled
// cycle. No back-pressure of its own (en_i freezes it). No reset.
module mvau_act #(
  parameter int PE         = 1,
  parameter int AccW       = 8,
  parameter int NThr       = 1,
  parameter int OutBits    = 1,
  parameter int OutOffset  = 0,
  parameter bit Scores     = 1'b0,
  parameter int ScoreShift = 0,
  parameter int CntRegEvery = 2
) (
  input  logic                                    clk_i,
  input  logic                                    en_i,
  input  logic [PE*AccW-1:0]                      acc_i,
  input  logic [PE*(Scores ? 32 : 1 + NThr*AccW)-1:0] thr_i,
  output logic [PE*(Scores ? 32 : OutBits)-1:0]   res_o
);

  localparam int LaneW = Scores ? 32 : 1 + NThr * AccW;

  for (genvar p = 0; p < PE; p++) begin : g_lane
    logic [AccW-1:0]  a;
    logic [LaneW-1:0] t;
    assign a = acc_i[p*AccW +: AccW];
    assign t = thr_i[p*LaneW +: LaneW];

    if (Scores) begin : g_score
      logic [31:0] a32, sc, sc_q;
      if (AccW < 32) begin : g_ext
        assign a32 = {{(32-AccW){a[AccW-1]}}, a};
      end else begin : g_same
        assign a32 = a[31:0];
      end
      assign sc = (a32 << ScoreShift) + t;
      always_ff @(posedge clk_i) begin
        if (en_i) sc_q <= sc;
      end
      assign res_o[p*32 +: 32] = sc_q;
    end else begin : g_thresh
      logic            neg;
      logic [AccW-1:0] ax;
      logic [NThr-1:0] pass, pass_q;
      assign neg = t[LaneW-1];
      assign ax  = a ^ {AccW{neg}};
      for (genvar i = 0; i < NThr; i++) begin : g_cmp
        assign pass[i] = $signed(ax) >= $signed(t[i*AccW +: AccW]);
      end
      always_ff @(posedge clk_i) begin
        if (en_i) pass_q <= pass;
      end

      // count of passed thresholds plus the offset, modulo 2^OutBits
      logic [31:0] cnt;
      if (NThr > 7) begin : g_cnt_tree
        // many thresholds: a pipelined adder tree of the pass bits
        localparam int CntLv = $clog2(NThr);
        logic [CntLv:0] cnt_t;
        mvau_tree #(.N(NThr), .InW(1), .OutW(CntLv + 1), .Signed(1'b0), .Levels(CntLv),
                    .RegEvery(CntRegEvery), .Lv0(0)) u_cnt (
          .clk_i (clk_i),
          .en_i  (en_i),
          .in_i  (pass_q),
          .sum_o (cnt_t)
        );
        assign cnt = 32'(OutOffset) + 32'(cnt_t);
      end else begin : g_cnt_comb
        function automatic logic [31:0] count_plus(input logic [NThr-1:0] v);
          logic [31:0] c;
          c = 32'(OutOffset);
          for (int i = 0; i < NThr; i++) begin
            c = c + {31'b0, v[i]};
          end
          count_plus = c;
        endfunction
        assign cnt = count_plus(pass_q);
      end
      assign res_o[p*OutBits +: OutBits] = cnt[OutBits-1:0];
      if (OutBits < 32) begin : g_unused
        logic unused_cnt;
        assign unused_cnt = ^cnt[31:OutBits];
      end
    end
  end

endmodule
