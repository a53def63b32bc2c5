// stream_join_add: element-wise integer add of two valid/ready streams (fastinference).
//
// Beat a holds E elements of WA bits (element e at a_data_i[e*WA +: WA]), beat b E elements
// of WB bits; each input is either bits (BitsX = 1, WX = 1: bit 1 = +1, bit 0 = -1) or
// integers (two's complement if SignedX, else unsigned). Output element e at
// out_data_o[e*WO +: WO] = v(a_e) + v(b_e), WO-bit two's complement. The writer picks WO so
// that every reachable sum fits (the inputs may be wider than their value range, e.g. 32-bit
// scores: the sum is computed modulo 2^WO, exact whenever the true sum fits).
// Handshake: a beat of each input is taken together, when both are valid and the output
//   register is empty or being read; a_ready_o = b_valid_i & room, b_ready_o = a_valid_i &
//   room (combinational from the other side's valid and from out_ready_i; out_valid_o and
//   out_data_o come from flops).
// Throughput: one beat per cycle. Latency: 1 cycle. Back-pressure: accepted on the output,
//   applied on both inputs.
// Reset: synchronous, active low (control flop only).
module stream_join_add #(
  parameter int E     = 4,
  parameter int WA    = 1,
  parameter bit BitsA = 1'b1,
  parameter bit SignedA = 1'b0,
  parameter int WB    = 8,
  parameter bit BitsB = 1'b0,
  parameter bit SignedB = 1'b1,
  parameter int WO    = 9
) (
  input  logic            clk_i,
  input  logic            rst_ni,
  input  logic            a_valid_i,
  output logic            a_ready_o,
  input  logic [E*WA-1:0] a_data_i,
  input  logic            b_valid_i,
  output logic            b_ready_o,
  input  logic [E*WB-1:0] b_data_i,
  output logic            out_valid_o,
  input  logic            out_ready_i,
  output logic [E*WO-1:0] out_data_o
);

  // every input is extended to SW bits, the sum's low WO bits are kept
  localparam int SW = ((WA > WB) ? ((WA > WO) ? WA : WO) : ((WB > WO) ? WB : WO)) + 1;

  logic            room, fire;
  logic [E*WO-1:0] sum;

  assign room        = ~out_valid_o | out_ready_i;
  assign fire        = a_valid_i & b_valid_i & room;
  assign a_ready_o   = b_valid_i & room;
  assign b_ready_o   = a_valid_i & room;

  for (genvar e = 0; e < E; e++) begin : g_lane
    logic [SW-1:0] va, vb, s;
    if (BitsA) begin : g_a_bits
      assign va = a_data_i[e*WA] ? SW'(1) : {SW{1'b1}};
    end else if (SignedA) begin : g_a_signed
      assign va = {{(SW-WA){a_data_i[e*WA + WA-1]}}, a_data_i[e*WA +: WA]};
    end else begin : g_a_unsigned
      assign va = {{(SW-WA){1'b0}}, a_data_i[e*WA +: WA]};
    end
    if (BitsB) begin : g_b_bits
      assign vb = b_data_i[e*WB] ? SW'(1) : {SW{1'b1}};
    end else if (SignedB) begin : g_b_signed
      assign vb = {{(SW-WB){b_data_i[e*WB + WB-1]}}, b_data_i[e*WB +: WB]};
    end else begin : g_b_unsigned
      assign vb = {{(SW-WB){1'b0}}, b_data_i[e*WB +: WB]};
    end
    assign s = va + vb;
    assign sum[e*WO +: WO] = s[WO-1:0];
    if (SW > WO) begin : g_unused
      logic unused_hi;
      assign unused_hi = ^s[SW-1:WO];
    end
  end

  always_ff @(posedge clk_i) begin
    if (fire) out_data_o <= sum;
  end

  always_ff @(posedge clk_i) begin
    if (!rst_ni) out_valid_o <= 1'b0;
    else if (fire) out_valid_o <= 1'b1;
    else if (out_ready_i) out_valid_o <= 1'b0;
  end

endmodule
