// binary_maxpool: KxK max pooling of a binary pixel stream (stride K, no padding).
//
// Input : one pixel per beat, C bits (channel 0 in bit 0), raster order, images back to back.
// Output: one pooled pixel per beat, C bits, raster order, OH x OW per image with
//           OH = H / K, OW = W / K   (floor mode, as ONNX MaxPool's default: trailing rows and
//           columns that no window covers are consumed and dropped).
//         Channel c takes the AND over its window if AndMask[c] is set, else the OR (the max
//         of +-1 values encoded as bits is OR; a negative BatchNorm scale after the pool turns it
//         into AND).
// Requires Stride == K, H >= K and W >= K.
//
// Structure: one C-bit partial result per output column (OW x C flops) accumulates the K rows
// of a window row; the last pixel of each window goes straight into the output register.
//
// Back-pressure: yes. in_ready_o = !(current pixel completes a window) || !out_valid_o ||
//   out_ready_i (a combinational path from out_ready_i to in_ready_o, one LUT: "completes a
//   window" is a flop computed a pixel ahead; out_valid_o and out_data_o come from flops).
// Throughput: one input pixel per cycle; steady state (input always valid, output always
//   ready): H*W cycles per image.
// Latency: a pooled pixel is valid the cycle after the last pixel of its window is accepted.
// Reset: synchronous, active low (rst_ni held low for at least one clock edge).
module binary_maxpool #(
  parameter int         C       = 1,
  parameter int         H       = 4,
  parameter int         W       = 4,
  parameter int         K       = 2,
  parameter int         Stride  = 2,
  parameter logic [C-1:0] AndMask = '0
) (
  input  logic         clk_i,
  input  logic         rst_ni,
  input  logic         in_valid_i,
  output logic         in_ready_o,
  input  logic [C-1:0] in_data_i,
  output logic         out_valid_o,
  input  logic         out_ready_i,
  output logic [C-1:0] out_data_o
);

  localparam int OH   = H / Stride;
  localparam int OW   = W / Stride;
  localparam int XW   = $clog2(W + 1);
  localparam int YW   = $clog2(H + 1);
  localparam int KW_  = $clog2(K + 1);
  localparam int PxW  = $clog2(OW + 1);
  localparam int PyW  = $clog2(OH + 1);
  localparam int IdxW = (OW > 1) ? $clog2(OW) : 1;

  logic [XW-1:0]  col_q, col_d;
  logic [YW-1:0]  row_q, row_d;
  logic [KW_-1:0] kc_q, kc_d;
  logic [KW_-1:0] kr_q, kr_d;
  logic [PxW-1:0] px_q, px_d, px_n;
  logic [PyW-1:0] py_q, py_d, py_n;
  logic [XW-1:0]  col_n;
  logic [YW-1:0]  row_n;
  logic [KW_-1:0] kc_n, kr_n;
  logic           close_q, close_d;   // use_pix && last_pix, a flop (in_ready_o: one LUT)
  // the current pixel's flags and partial-result index are flops, computed a pixel ahead:
  // the partial-result memory's address and write enable come from flops
  logic           use_q, use_d, first_q, first_d, lastp_q, lastp_d;
  logic [IdxW-1:0] idx_q, idx_d;
  logic           use_n;

  logic [C-1:0]   acc_q [OW];
  logic [C-1:0]   out_q;
  logic           out_valid_q, out_valid_d;

  logic           use_pix;     // pixel lies inside a pooling window
  logic           first_pix;   // first pixel of its window
  logic           last_pix;    // last pixel of its window
  logic           in_fire;
  logic [IdxW-1:0] idx;
  logic [C-1:0]   acc_old;
  logic [C-1:0]   acc_new;

  assign use_pix   = use_q;
  assign first_pix = first_q;
  assign last_pix  = lastp_q;
  assign idx       = idx_q;
  assign use_n     = (px_n != PxW'(OW)) && (py_n != PyW'(OH));
  assign acc_old   = acc_q[idx];
  assign acc_new   = first_pix ? in_data_i
                               : (((acc_old & in_data_i) & AndMask) |
                                  ((acc_old | in_data_i) & ~AndMask));

  assign in_ready_o  = !close_q || !out_valid_q || out_ready_i;
  assign in_fire     = in_valid_i && in_ready_o;
  assign out_valid_o = out_valid_q;
  assign out_data_o  = out_q;

  // the position after the current pixel (from flops only); taken when a pixel is accepted
  always_comb begin
    col_n = col_q;
    row_n = row_q;
    kc_n  = kc_q;
    kr_n  = kr_q;
    px_n  = px_q;
    py_n  = py_q;
    if (col_q == XW'(W - 1)) begin
      col_n = '0;
      kc_n  = '0;
      px_n  = '0;
      if (row_q == YW'(H - 1)) begin
        row_n = '0;
        kr_n  = '0;
        py_n  = '0;
      end else begin
        row_n = row_q + YW'(1);
        if (kr_q == KW_'(K - 1)) begin
          kr_n = '0;
          py_n = py_q + PyW'(1);
        end else begin
          kr_n = kr_q + KW_'(1);
        end
      end
    end else begin
      col_n = col_q + XW'(1);
      if (kc_q == KW_'(K - 1)) begin
        kc_n = '0;
        px_n = (px_q == PxW'(OW)) ? px_q : px_q + PxW'(1);
      end else begin
        kc_n = kc_q + KW_'(1);
      end
    end
  end

  always_comb begin
    col_d   = in_fire ? col_n : col_q;
    row_d   = in_fire ? row_n : row_q;
    kc_d    = in_fire ? kc_n  : kc_q;
    kr_d    = in_fire ? kr_n  : kr_q;
    px_d    = in_fire ? px_n  : px_q;
    py_d    = in_fire ? py_n  : py_q;
    close_d = in_fire ? (use_n && (kc_n == KW_'(K - 1)) && (kr_n == KW_'(K - 1))) : close_q;
    use_d   = in_fire ? use_n : use_q;
    first_d = in_fire ? ((kc_n == '0) && (kr_n == '0)) : first_q;
    lastp_d = in_fire ? ((kc_n == KW_'(K - 1)) && (kr_n == KW_'(K - 1))) : lastp_q;
    idx_d   = in_fire ? (use_n ? IdxW'(px_n) : '0) : idx_q;
    out_valid_d = out_valid_q && !out_ready_i;
    if (in_fire && use_pix && last_pix) begin
      out_valid_d = 1'b1;
    end
  end

  always_ff @(posedge clk_i) begin
    if (in_fire && use_pix) begin
      if (last_pix) begin
        out_q <= acc_new;
      end else begin
        acc_q[idx] <= acc_new;
      end
    end
  end

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      col_q       <= '0;
      row_q       <= '0;
      kc_q        <= '0;
      kr_q        <= '0;
      px_q        <= '0;
      py_q        <= '0;
      close_q     <= (K == 1);
      use_q       <= 1'b1;
      first_q     <= 1'b1;
      lastp_q     <= (K == 1);
      idx_q       <= '0;
      out_valid_q <= 1'b0;
    end else begin
      col_q       <= col_d;
      row_q       <= row_d;
      kc_q        <= kc_d;
      kr_q        <= kr_d;
      px_q        <= px_d;
      py_q        <= py_d;
      close_q     <= close_d;
      use_q       <= use_d;
      first_q     <= first_d;
      lastp_q     <= lastp_d;
      idx_q       <= idx_d;
      out_valid_q <= out_valid_d;
    end
  end

endmodule
