// maxpool: max pooling of a pixel stream, any kernel KHxKW and any stride StrideH x StrideW
// (overlapping windows, stride > kernel and non-square sizes included), no padding.
//
// Input : one pixel per beat, C values of Bits bits (channel 0 in the LSBs), raster order,
//         images back to back. Values are two's complement if Signed, else unsigned.
// Output: one pooled pixel per beat, same format, raster order, OH x OW per image:
//           OH = (H - KH) / StrideH + 1,  OW = (W - KW) / StrideW + 1
//         (floor mode, as ONNX MaxPool's default: rows and columns no window reaches are
//         consumed and dropped). Channel c is the max over its window, or the min if
//         AndMask[c] is set (for bits, Bits = 1: max is OR, min is AND; a pool of +-1 values
//         before a decreasing threshold becomes an AND).
// Requires H >= KH and W >= KW.
//
// Structure: a sliding_window (line buffer in KH x KW RAM banks, window register) gives one
// whole window per output pixel; per channel a chain of KH*KW - 1 comparators picks the max
// (min) into the output register.
//
// Back-pressure: yes. The window is taken when the output register is empty or being read:
//   a combinational path from out_ready_i to the sliding_window's out_ready_i only (its
//   in_ready_o comes from registers); out_valid_o and out_data_o come from flops.
// Throughput: up to one input pixel and one output pixel per cycle; steady state (input
//   always valid, output always ready): max(H*W, OH*OW) cycles per image.
// Latency: one cycle more than sliding_window: a pooled pixel is valid four cycles after input
//   row min(H-1, (oy*StrideH)+KH-1) of its window has been accepted (the first row: KH-1).
// Reset: synchronous, active low (rst_ni held low for at least one clock edge).
module maxpool #(
  parameter int           C       = 1,
  parameter int           H       = 4,
  parameter int           W       = 4,
  parameter int           Bits    = 1,
  parameter bit           Signed  = 1'b0,
  parameter int           KH      = 2,
  parameter int           KW      = 2,
  parameter int           StrideH = 2,
  parameter int           StrideW = 2,
  parameter logic [C-1:0] AndMask = '0
) (
  input  logic                clk_i,
  input  logic                rst_ni,
  input  logic                in_valid_i,
  output logic                in_ready_o,
  input  logic [C*Bits-1:0]   in_data_i,
  output logic                out_valid_o,
  input  logic                out_ready_i,
  output logic [C*Bits-1:0]   out_data_o
);

  localparam int N    = KH * KW;  // values per window and channel
  localparam int PixW = C * Bits;

  logic              win_valid, win_ready;
  logic [N*PixW-1:0] win_data;
  logic [PixW-1:0]   pooled;
  logic              out_valid_q;
  logic [PixW-1:0]   out_q;

  sliding_window #(
    .C       (C),
    .H       (H),
    .W       (W),
    .BITS    (Bits),
    .KH      (KH),
    .KW      (KW),
    .StrideH (StrideH),
    .StrideW (StrideW),
    .PadT    (0),
    .PadL    (0),
    .PadB    (0),
    .PadR    (0)
  ) u_window (
    .clk_i       (clk_i),
    .rst_ni      (rst_ni),
    .in_valid_i  (in_valid_i),
    .in_ready_o  (in_ready_o),
    .in_data_i   (in_data_i),
    .out_valid_o (win_valid),
    .out_ready_i (win_ready),
    .out_data_o  (win_data)
  );

  // window element e = (kh*KW + kw)*C + c sits at [e*Bits +: Bits]
  function automatic logic [Bits-1:0] pool_channel(input logic [N*PixW-1:0] win,
                                                   input int unsigned c, input logic use_min);
    logic [Bits-1:0] best;
    logic [Bits-1:0] v;
    logic            v_gt;  // v > best in the value's format
    best = win[c*Bits +: Bits];
    for (int unsigned e = 1; e < N; e++) begin
      v    = win[(e*C + c)*Bits +: Bits];
      v_gt = Signed ? ($signed(v) > $signed(best)) : (v > best);
      if (use_min ? (!v_gt && (v != best)) : v_gt) begin
        best = v;
      end
    end
    pool_channel = best;  // Yosys: no return statements (TOOLCHAIN Y3)
  endfunction

  for (genvar c = 0; c < C; c++) begin : g_ch
    assign pooled[c*Bits +: Bits] = pool_channel(win_data, c, AndMask[c]);
  end

  assign win_ready   = !out_valid_q || out_ready_i;
  assign out_valid_o = out_valid_q;
  assign out_data_o  = out_q;

  always_ff @(posedge clk_i) begin
    if (win_valid && win_ready) begin
      out_q <= pooled;
    end
  end

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      out_valid_q <= 1'b0;
    end else if (win_ready) begin
      out_valid_q <= win_valid;
    end
  end

endmodule
