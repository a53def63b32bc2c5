// pixel_collector: width converter from a pixel stream to one vector per image.
//
// Input : one pixel per beat, C*BITS bits (channel 0 in the LSBs), N pixels per image.
// Output: one beat per image, N*C*BITS bits, pixel 0 in the LSBs: element (pixel p, channel c)
//         with index e = p*C + c sits at bits [e*BITS +: BITS] (HWC order when the pixels arrive
//         in raster order).
//
// Structure: a shift register holds pixels 0..N-2 ((N-1)*C*BITS flops); the last pixel goes
// straight into the output register (N*C*BITS flops) together with them. So the next image's
// first N-1 pixels are accepted while the previous vector still waits (double buffer).
//
// Back-pressure: yes, on both sides. in_ready_o = (pixel is not the last of its image) ||
//   !out_valid_o, from flops: the last pixel waits until the output register is empty, not
//   for out_ready_i (no combinational path from out_ready_i to in_ready_o: on ECP5 that path
//   ran through the FIFOs on both sides, the digits CNN's critical path at 149.9 MHz). With
//   N >= 2 pixels per image the vector has N - 1 cycles to leave, so a consumer that takes it
//   within N - 2 cycles never stalls the input; N = 1 keeps out_ready_i in in_ready_o (else
//   one pixel per 2 cycles). out_valid_o and out_data_o come from flops.
// Throughput: one pixel per cycle; steady state (input always valid, output always ready):
//   N cycles per image. The input never stalls as long as each vector is taken within N-1
//   cycles after it appears.
// Latency: the vector is valid the cycle after its last pixel is accepted.
// Reset: synchronous, active low (rst_ni held low for at least one clock edge).
module pixel_collector #(
  parameter int C    = 1,
  parameter int N    = 4,
  parameter int BITS = 1
) (
  input  logic                  clk_i,
  input  logic                  rst_ni,
  input  logic                  in_valid_i,
  output logic                  in_ready_o,
  input  logic [C*BITS-1:0]     in_data_i,
  output logic                  out_valid_o,
  input  logic                  out_ready_i,
  output logic [N*C*BITS-1:0]   out_data_o
);

  localparam int PixW = C * BITS;
  localparam int CntW = (N > 1) ? $clog2(N) : 1;

  logic [CntW-1:0]     cnt_q, cnt_d;
  logic                last_pix;     // cnt_q == N - 1, kept as a flop (last_q)
  logic                last_q, last_d;
  logic                in_fire;
  logic                out_valid_q, out_valid_d;
  logic [N*PixW-1:0]   out_q;
  logic [N*PixW-1:0]   vec;

  assign last_pix    = last_q;
  if (N > 1) begin : g_rdy_reg
    assign in_ready_o = !last_pix || !out_valid_q;
  end else begin : g_rdy_comb
    assign in_ready_o = !out_valid_q || out_ready_i;
  end
  assign in_fire     = in_valid_i && in_ready_o;
  assign out_valid_o = out_valid_q;
  assign out_data_o  = out_q;

  if (N > 1) begin : g_collect
    logic [(N-1)*PixW-1:0] sr_q;
    if (N > 2) begin : g_shift
      always_ff @(posedge clk_i) begin
        if (in_fire && !last_pix) begin
          sr_q <= {in_data_i, sr_q[(N-1)*PixW-1:PixW]};
        end
      end
    end else begin : g_one
      always_ff @(posedge clk_i) begin
        if (in_fire && !last_pix) begin
          sr_q <= in_data_i;
        end
      end
    end
    assign vec = {in_data_i, sr_q};
  end else begin : g_single
    assign vec = in_data_i;
  end

  always_comb begin
    cnt_d       = cnt_q;
    last_d      = last_q;
    out_valid_d = out_valid_q && !out_ready_i;
    if (in_fire) begin
      if (last_pix) begin
        cnt_d       = '0;
        last_d      = (N == 1);
        out_valid_d = 1'b1;
      end else begin
        cnt_d       = cnt_q + CntW'(1);
        last_d      = (cnt_q == CntW'(N - 2));
      end
    end
  end

  always_ff @(posedge clk_i) begin
    if (in_fire && last_pix) begin
      out_q <= vec;
    end
  end

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      cnt_q       <= '0;
      last_q      <= (N == 1);
      out_valid_q <= 1'b0;
    end else begin
      cnt_q       <= cnt_d;
      last_q      <= last_d;
      out_valid_q <= out_valid_d;
    end
  end

endmodule
