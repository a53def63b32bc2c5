// axis_serialize: one vector of N words -> N AXI4-Stream beats, TLAST on the last (fastinference).
//
// Data layout: in_data_i holds word j at [j*W +: W]; beat j carries word j (word 0 first), and
// out_last_o is 1 on beat N-1 only. Used for the class-serial output (--out-stream serial):
// one 32-bit score per beat.
// Implementation: a shift register (each beat moves it down one word: no read mux) and a
//   beat counter; out_valid_o, out_data_o and out_last_o come from flops, so they stay stable
//   while out_ready_i is low, as AXI4-Stream requires.
// Throughput: one beat a cycle, N cycles per vector: the next vector is accepted in the cycle
//   the last beat of the current one leaves.
// Latency: 1 cycle (word 0 is offered the cycle after the vector is accepted).
// Back-pressure: accepted on the output; in_ready_o = !busy || (last beat && out_ready_i).
// Reset: synchronous, active low (rst_ni held low for at least one clock edge).
module axis_serialize #(
  parameter int N = 10,  // words (beats) per vector
  parameter int W = 32   // bits per word
) (
  input  logic           clk_i,
  input  logic           rst_ni,
  input  logic           in_valid_i,
  output logic           in_ready_o,
  input  logic [N*W-1:0] in_data_i,
  output logic           out_valid_o,
  input  logic           out_ready_i,
  output logic [W-1:0]   out_data_o,
  output logic           out_last_o
);

  localparam int CntW = (N > 1) ? $clog2(N) : 1;

  logic [N*W-1:0] data_q;
  logic [CntW-1:0] count_q;
  logic            busy_q;
  logic            last, take, send;

  assign last        = (count_q == CntW'(N - 1));
  assign out_valid_o = busy_q;
  assign out_data_o  = data_q[W-1:0];
  assign out_last_o  = last;
  assign send        = busy_q & out_ready_i;
  assign in_ready_o  = ~busy_q | (send & last);
  assign take        = in_valid_i & in_ready_o;

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      busy_q  <= 1'b0;
      count_q <= '0;
    end else if (take) begin
      busy_q  <= 1'b1;
      count_q <= '0;
    end else if (send) begin
      busy_q  <= ~last;
      count_q <= last ? '0 : count_q + 1'b1;
    end
  end

  // data: no reset needed (qualified by busy_q)
  if (N > 1) begin : g_shift
    always_ff @(posedge clk_i) begin
      if (take) data_q <= in_data_i;
      else if (send) data_q <= {W'(0), data_q[N*W-1:W]};
    end
  end else begin : g_one
    always_ff @(posedge clk_i) begin
      if (take) data_q <= in_data_i;
    end
  end

endmodule
