// stream_fork: one valid/ready stream in, the same beats on two outputs (fastinference).
//
// Each output has its own valid register over one shared data register: a beat is accepted
// when BOTH sides can take it (each side's register is empty or being read this cycle); from
// then on each side hands its copy over independently (out0 may take the beat cycles before
// out1, or after). So a slow side never loses a beat and a fast side never sees one twice.
// Back-pressure: accepted on both outputs; applied on the input while either side still holds
//   the previous beat: in_ready_o = (!out0_valid_o | out0_ready_i) & (!out1_valid_o | out1_ready_i)
//   (a combinational path from the out ready inputs to in_ready_o only; the outputs' valid
//   and data come from flops).
// Throughput: one beat per cycle while both sides are ready. Latency: 1 cycle.
// Reset: synchronous, active low (rst_ni held low for at least one clock edge).
module stream_fork #(
  parameter int Width = 8
) (
  input  logic             clk_i,
  input  logic             rst_ni,
  input  logic             in_valid_i,
  output logic             in_ready_o,
  input  logic [Width-1:0] in_data_i,
  output logic             out0_valid_o,
  input  logic             out0_ready_i,
  output logic [Width-1:0] out0_data_o,
  output logic             out1_valid_o,
  input  logic             out1_ready_i,
  output logic [Width-1:0] out1_data_o
);

  logic [Width-1:0] data_q;
  logic             v0_q, v1_q;
  logic             push;

  assign in_ready_o   = (~v0_q | out0_ready_i) & (~v1_q | out1_ready_i);
  assign push         = in_valid_i & in_ready_o;
  assign out0_valid_o = v0_q;
  assign out1_valid_o = v1_q;
  assign out0_data_o  = data_q;
  assign out1_data_o  = data_q;

  always_ff @(posedge clk_i) begin
    if (push) data_q <= in_data_i;
  end

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      v0_q <= 1'b0;
      v1_q <= 1'b0;
    end else begin
      if (push) v0_q <= 1'b1;
      else if (out0_ready_i) v0_q <= 1'b0;
      if (push) v1_q <= 1'b1;
      else if (out1_ready_i) v1_q <= 1'b0;
    end
  end

endmodule
