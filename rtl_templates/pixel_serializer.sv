// pixel_serializer: one image vector in, its N pixels out one per beat (fastinference).
//
// Turns the AXI4-Stream beat of a conv net (a whole image) into the pixel stream the
// sliding window takes. in_data_i holds N pixels of PixW bits, pixel 0 in the LSBs (the
// generated top reorders the ONNX NCHW vector into this HWC order with wires only).
// Structure: the image register shifts down by one pixel per beat sent; the output is its
// lowest pixel.
// Latency: 1 cycle (pixel 0 is offered the cycle after the image is accepted).
// Throughput: exactly N cycles per image: the next image is accepted in the cycle the last
//   pixel of the current one leaves.
// Back-pressure: accepted on the output; in_ready_o depends combinationally on out_ready_i
//   during the last pixel only.
// Reset: synchronous, active low (rst_ni held low for at least one clock edge).
module pixel_serializer #(
  parameter int N    = 4,  // pixels per image
  parameter int PixW = 8   // bits per pixel (channels x bits)
) (
  input  logic              clk_i,
  input  logic              rst_ni,
  input  logic              in_valid_i,
  output logic              in_ready_o,
  input  logic [N*PixW-1:0] in_data_i,
  output logic              out_valid_o,
  input  logic              out_ready_i,
  output logic [PixW-1:0]   out_data_o
);

  localparam int CntW = (N > 1) ? $clog2(N) : 1;

  logic [N*PixW-1:0] image_q;
  logic [CntW-1:0]   count_q;
  logic              busy_q;
  logic              last_q;   // count_q == N - 1, a flop (in_ready_o is one LUT of flops and out_ready_i)
  logic              last, take, send;

  assign last        = last_q;
  assign out_valid_o = busy_q;
  assign out_data_o  = image_q[PixW-1:0];
  assign send        = busy_q & out_ready_i;
  assign in_ready_o  = ~busy_q | (send & last);
  assign take        = in_valid_i & in_ready_o;

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      busy_q  <= 1'b0;
      count_q <= '0;
      last_q  <= (N == 1);
    end else if (take) begin
      busy_q  <= 1'b1;
      count_q <= '0;
      last_q  <= (N == 1);
    end else if (send) begin
      busy_q  <= ~last;
      count_q <= last ? '0 : count_q + 1'b1;
      last_q  <= (N == 1) || (!last && (count_q == CntW'(N - 2)));
    end
  end

  // data register, a shift register (pixel 0 leaves first; no N:1 output mux): no reset
  // needed (qualified by busy_q)
  always_ff @(posedge clk_i) begin
    if (take) begin
      image_q <= in_data_i;
    end else if (send) begin
      image_q <= image_q >> PixW;
    end
  end

endmodule
