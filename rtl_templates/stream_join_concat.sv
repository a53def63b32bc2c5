// stream_join_concat: concatenation of two valid/ready streams' elements (fastinference).
//
// Beat a holds EA elements of WA bits, beat b EB elements of WB bits (element e at
// [e*W +: W]); the output beat holds EA + EB elements of WO bits: a's elements first (in the
// LSBs), then b's. On a pixel stream (one beat = one pixel's channels) this is the channel
// concat; on vectors, the feature concat. Each element is sign-extended (SignedX) or
// zero-extended to WO bits (bits streams: WA = WB = WO = 1, unchanged).
// Handshake: a beat of each input is taken together, when both are valid and the output
//   register is empty or being read (as stream_join_add). Throughput: one beat per cycle.
//   Latency: 1 cycle. Back-pressure: accepted on the output, applied on both inputs.
// Reset: synchronous, active low (control flop only).
module stream_join_concat #(
  parameter int EA      = 4,
  parameter int WA      = 1,
  parameter bit SignedA = 1'b0,
  parameter int EB      = 4,
  parameter int WB      = 1,
  parameter bit SignedB = 1'b0,
  parameter int WO      = 1
) (
  input  logic                 clk_i,
  input  logic                 rst_ni,
  input  logic                 a_valid_i,
  output logic                 a_ready_o,
  input  logic [EA*WA-1:0]     a_data_i,
  input  logic                 b_valid_i,
  output logic                 b_ready_o,
  input  logic [EB*WB-1:0]     b_data_i,
  output logic                 out_valid_o,
  input  logic                 out_ready_i,
  output logic [(EA+EB)*WO-1:0] out_data_o
);

  logic                    room, fire;
  logic [(EA+EB)*WO-1:0]   cat;

  assign room      = ~out_valid_o | out_ready_i;
  assign fire      = a_valid_i & b_valid_i & room;
  assign a_ready_o = b_valid_i & room;
  assign b_ready_o = a_valid_i & room;

  for (genvar e = 0; e < EA; e++) begin : g_a
    if (WO == WA) begin : g_same
      assign cat[e*WO +: WO] = a_data_i[e*WA +: WA];
    end else begin : g_ext
      assign cat[e*WO +: WO] = {{(WO-WA){SignedA & a_data_i[e*WA + WA-1]}}, a_data_i[e*WA +: WA]};
    end
  end
  for (genvar e = 0; e < EB; e++) begin : g_b
    if (WO == WB) begin : g_same
      assign cat[(EA+e)*WO +: WO] = b_data_i[e*WB +: WB];
    end else begin : g_ext
      assign cat[(EA+e)*WO +: WO] = {{(WO-WB){SignedB & b_data_i[e*WB + WB-1]}}, b_data_i[e*WB +: WB]};
    end
  end

  always_ff @(posedge clk_i) begin
    if (fire) out_data_o <= cat;
  end

  always_ff @(posedge clk_i) begin
    if (!rst_ni) out_valid_o <= 1'b0;
    else if (fire) out_valid_o <= 1'b1;
    else if (out_ready_i) out_valid_o <= 1'b0;
  end

endmodule
