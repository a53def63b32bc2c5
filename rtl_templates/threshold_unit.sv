// threshold_unit: the activation unit alone on an integer stream (fastinference).
//
// Input : one beat = E integers of InW bits (element e at [e*InW +: InW]), two's complement
//         when InSigned, else unsigned (zero-extended: CmpW > InW).
// Output: one beat = E results of OutBits bits (element e at [e*OutBits +: OutBits]):
//           out_e = OutOffset + #{i : x_e >= T_e,i}   (Neg[e] = 0)
//           out_e = OutOffset + #{i : x_e <= T_e,i}   (Neg[e] = 1)
//         modulo 2^OutBits; a binary activation is NThr = 1, OutBits = 1, OutOffset = 0.
//         T_e,i = Thr[(e*NThr + i)*CmpW +: CmpW], CmpW-bit two's complement (CmpW >= InW; the
//         writer clamps thresholds to the input's reachable range +-1, so they fit).
// Per channel thresholds on a pixel stream: the writer repeats nothing, lane e is channel e.
// Handshake: registered output (out_valid_o, out_data_o from flops); in_ready_o =
//   !out_valid_o | out_ready_i (combinational from out_ready_i).
// Throughput: one beat per cycle. Latency: 1 cycle. Back-pressure: accepted and applied.
// Reset: synchronous, active low (control flop only).
module threshold_unit #(
  parameter int E         = 4,
  parameter int InW       = 8,
  parameter bit InSigned  = 1'b1,
  parameter int NThr      = 1,
  parameter int CmpW      = 9,
  parameter int OutBits   = 1,
  parameter int OutOffset = 0,
  parameter logic [E*NThr*CmpW-1:0] Thr = '0,
  parameter logic [E-1:0]           Neg = '0
) (
  input  logic                 clk_i,
  input  logic                 rst_ni,
  input  logic                 in_valid_i,
  output logic                 in_ready_o,
  input  logic [E*InW-1:0]     in_data_i,
  output logic                 out_valid_o,
  input  logic                 out_ready_i,
  output logic [E*OutBits-1:0] out_data_o
);

  localparam int CntW = $clog2(NThr + 1);
  localparam int SumW = (CntW > OutBits) ? CntW : OutBits;
  localparam logic [SumW-1:0] Offset = SumW'(OutOffset);

  logic                 push;
  logic [E*OutBits-1:0] res;

  assign in_ready_o = ~out_valid_o | out_ready_i;
  assign push       = in_valid_i & in_ready_o;

  for (genvar e = 0; e < E; e++) begin : g_lane
    logic signed [CmpW-1:0] x;
    logic [NThr-1:0]        pass;
    logic [SumW-1:0]        total;
    if (InSigned) begin : g_sext
      assign x = CmpW'($signed(in_data_i[e*InW +: InW]));
    end else begin : g_zext
      assign x = CmpW'({1'b0, in_data_i[e*InW +: InW]});
    end
    for (genvar i = 0; i < NThr; i++) begin : g_thr
      localparam logic signed [CmpW-1:0] T = Thr[(e*NThr + i)*CmpW +: CmpW];
      assign pass[i] = Neg[e] ? (x <= T) : (x >= T);
    end
    assign total = Offset + SumW'($countones(pass));
    assign res[e*OutBits +: OutBits] = total[OutBits-1:0];
    if (SumW > OutBits) begin : g_unused
      logic unused_hi;
      assign unused_hi = ^total[SumW-1:OutBits];
    end
  end

  always_ff @(posedge clk_i) begin
    if (push) out_data_o <= res;
  end

  always_ff @(posedge clk_i) begin
    if (!rst_ni) out_valid_o <= 1'b0;
    else if (push) out_valid_o <= 1'b1;
    else if (out_ready_i) out_valid_o <= 1'b0;
  end

endmodule
