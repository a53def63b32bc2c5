// sliding_window: line buffer that turns a pixel stream into a stream of KHxKW windows.
//
// Input : one pixel per beat, raster order (row by row, left to right), images back to back.
//         A pixel is C channels x BITS bits, channel 0 in the LSBs.
// Output: one beat per OUTPUT pixel (OH x OW per image, raster order) carrying the whole window,
//         KH*KW*C*BITS bits: element e = (kh*KW + kw)*C + c sits at bits [e*BITS +: BITS].
//         Positions in the zero padding (PadT/PadL/PadB/PadR) read as the all-zero word.
//           OH = (H + PadT + PadB - KH) / StrideH + 1,  OW = (W + PadL + PadR - KW) / StrideW + 1
//         (floor mode: trailing rows/columns no window reaches are consumed and dropped).
//         Requires PadT, PadB < KH and PadL, PadR < KW.
//
// Structure: a circular buffer of Rows = 2*KH + StrideH input rows held in flops, with a writer
// (one input pixel per cycle) and a reader (one window per cycle) that run independently. The
// reader starts output row oy once every input row it needs is complete; the writer fills a row
// slot once the reader no longer needs the row it held (the count of rows it may still fill is
// a register of its own, so in_ready_o is one compare of a flop). Each window element is read through a
// row mux (Rows:1) and a column mux (W:1); padded positions are masked to zero, so padding costs
// no cycles.
//
// Back-pressure: yes, on both sides. in_ready_o and out_valid_o are functions of registers only
//   (no combinational path from any input to any output).
// Throughput: up to one input pixel AND one output window per cycle.
//   Steady state (input always valid, output always ready), cycles per image:
//     max(H*W, OH*OW)   exactly (asserted by tests/rtl/test_conv_blocks.py).
// Latency: the first window of an image is valid the cycle after input row
//   min(H-1, KH-1-PadT) of that image has been accepted.
// Reset: synchronous, active low (rst_ni held low for at least one clock edge).
module sliding_window #(
  parameter int C       = 1,
  parameter int H       = 8,
  parameter int W       = 8,
  parameter int BITS    = 1,
  parameter int KH      = 3,
  parameter int KW      = 3,
  parameter int StrideH = 1,
  parameter int StrideW = 1,
  parameter int PadT    = 0,
  parameter int PadL    = 0,
  parameter int PadB    = 0,
  parameter int PadR    = 0
) (
  input  logic                         clk_i,
  input  logic                         rst_ni,
  // pixel stream in
  input  logic                         in_valid_i,
  output logic                         in_ready_o,
  input  logic [C*BITS-1:0]            in_data_i,
  // window stream out
  output logic                         out_valid_o,
  input  logic                         out_ready_i,
  output logic [KH*KW*C*BITS-1:0]      out_data_o
);

  localparam int PixW  = C * BITS;
  localparam int OH    = (H + PadT + PadB - KH) / StrideH + 1;
  localparam int OW    = (W + PadL + PadR - KW) / StrideW + 1;
  localparam int Rows  = 2 * KH + StrideH;
  localparam int Depth = Rows * W;
  localparam int SlotW = $clog2(Rows);
  localparam int AddrW = $clog2(Depth);
  localparam int XW    = $clog2(W + 1);
  localparam int OyW   = $clog2(OH + 1);
  localparam int OxW   = $clog2(OW + 1);
  // global row counters (modular; only differences are used)
  localparam int CntW  = $clog2(H + Rows + 1) + 2;
  // signed row/column coordinates inside an image (padding makes them negative)
  localparam int IW    = $clog2(H + W + KH + KW + StrideH + StrideW +
                                         PadT + PadL + PadB + PadR + 2) + 2;

  localparam logic signed [IW-1:0] HS     = IW'(H);
  localparam logic signed [IW-1:0] WS     = IW'(W);
  localparam logic signed [IW-1:0] SHS    = IW'(StrideH);
  localparam logic signed [IW-1:0] SWS    = IW'(StrideW);
  localparam logic signed [IW-1:0] TopRst = -IW'(PadT);
  localparam logic signed [IW-1:0] LftRst = -IW'(PadL);
  localparam logic signed [IW-1:0] KhM1   = IW'(KH - 1);
  // highest image row the first output row needs
  localparam logic signed [IW-1:0] HiRst  = (TopRst + KhM1 < HS) ? TopRst + KhM1 : HS - IW'(1);

  // ------------------------------------------------------------------ row buffer
  logic [PixW-1:0] mem_q [Depth];

  // ------------------------------------------------------------------ writer
  logic [XW-1:0]    wr_col_q,  wr_col_d;
  logic [SlotW-1:0] wr_slot_q, wr_slot_d;
  logic             in_fire;
  logic [AddrW-1:0] wr_addr;

  // ------------------------------------------------------------------ reader
  logic [OyW-1:0]        rd_oy_q,   rd_oy_d;
  logic [OxW-1:0]        rd_ox_q,   rd_ox_d;
  logic signed [IW-1:0]  rd_top_q,  rd_top_d;   // oy*StrideH - PadT
  logic signed [IW-1:0]  rd_left_q, rd_left_d;  // ox*StrideW - PadL
  logic [SlotW-1:0]      rd_slot_q, rd_slot_d;  // slot of row lo (global lo mod Rows)
  logic                  out_fire;

  logic signed [IW-1:0]  lo_img;       // lowest image row the current output row needs
  logic signed [IW-1:0]  top_next;
  // only the low bits of these take part in modular arithmetic
  /* verilator lint_off UNUSEDSIGNAL */
  logic signed [IW-1:0]  lo_delta;     // always in [0, Rows)
  /* verilator lint_on UNUSEDSIGNAL */
  logic signed [CntW-1:0] free_q, free_d;   // wr_cnt - (base + lo), kept as a register
  logic signed [CntW-1:0] need_q, need_d;   // wr_cnt - (base + hi), kept as a register
  /* verilator lint_off UNUSEDSIGNAL */
  logic signed [IW-1:0]  hi_delta;     // always in [0, H]
  /* verilator lint_on UNUSEDSIGNAL */
  logic [SlotW:0]        slot_sum;

  assign lo_img   = (rd_top_q < 0) ? '0 : rd_top_q;
  assign top_next = rd_top_q + SHS;

  // free rows as a register (wr_cnt - (rd_base + lo_img), updated by both sides): in_ready_o
  // is one compare of a flop, not a subtract chain in front of the upstream FIFO's pop
  // rows still missing for the current output row, likewise a register: out_valid_o is one
  // compare of a flop (wr_cnt: complete rows written, base: global index of image row 0; both
  // live only in these differences)

  // lowest / highest image row output row oy needs (elaboration-time constants)
  function automatic int lo_of(input int oy);
    int t;
    t = oy * StrideH - PadT;
    lo_of = (t < 0) ? 0 : t;
  endfunction
  function automatic int hi_of(input int oy);
    int t;
    t = oy * StrideH - PadT + KH - 1;
    hi_of = (t < H) ? t : H - 1;
  endfunction

  // how far the lowest / highest needed global row moves when the reader leaves output row
  // rd_oy_q: constants selected by the row index (a few LUTs, no adder chain)
  logic signed [IW-1:0] lo_adv, hi_adv;
  always_comb begin
    lo_adv = '0;
    hi_adv = '0;
    for (int i = 0; i < OH; i++) begin
      if (rd_oy_q == OyW'(i)) begin
        lo_adv = (i == OH - 1) ? IW'(H + lo_of(0) - lo_of(i)) : IW'(lo_of(i + 1) - lo_of(i));
        hi_adv = (i == OH - 1) ? IW'(H + hi_of(0) - hi_of(i)) : IW'(hi_of(i + 1) - hi_of(i));
      end
    end
  end

  assign in_ready_o  = free_q < $signed(CntW'(Rows));
  assign out_valid_o = need_q > 0;
  assign in_fire     = in_valid_i & in_ready_o;
  assign out_fire    = out_valid_o & out_ready_i;

  // ------------------------------------------------------------------ writer next state
  assign wr_addr = AddrW'(wr_slot_q * W) + AddrW'(wr_col_q);

  always_comb begin
    wr_col_d  = wr_col_q;
    wr_slot_d = wr_slot_q;
    if (in_fire) begin
      if (wr_col_q == XW'(W - 1)) begin
        wr_col_d  = '0;
        wr_slot_d = (wr_slot_q == SlotW'(Rows - 1)) ? '0 : wr_slot_q + SlotW'(1);
      end else begin
        wr_col_d  = wr_col_q + XW'(1);
      end
    end
  end

  // ------------------------------------------------------------------ reader next state
  always_comb begin
    rd_oy_d   = rd_oy_q;
    rd_ox_d   = rd_ox_q;
    rd_top_d  = rd_top_q;
    rd_left_d = rd_left_q;
    lo_delta  = '0;
    hi_delta  = '0;
    if (out_fire) begin
      if (rd_ox_q == OxW'(OW - 1)) begin
        rd_ox_d   = '0;
        rd_left_d = LftRst;
        if (rd_oy_q == OyW'(OH - 1)) begin
          rd_oy_d   = '0;
          rd_top_d  = TopRst;
          lo_delta  = lo_adv;                // next image's row 0
          hi_delta  = hi_adv;
        end else begin
          rd_oy_d   = rd_oy_q + OyW'(1);
          rd_top_d  = top_next;
          lo_delta  = lo_adv;
          hi_delta  = hi_adv;
        end
      end else begin
        rd_ox_d   = rd_ox_q + OxW'(1);
        rd_left_d = rd_left_q + SWS;
      end
    end
    // lo_delta < Rows, so one conditional subtraction keeps the slot in range
    slot_sum  = {1'b0, rd_slot_q} + (SlotW + 1)'(lo_delta);
    rd_slot_d = (slot_sum >= (SlotW + 1)'(Rows)) ? SlotW'(slot_sum - (SlotW + 1)'(Rows))
                                                 : SlotW'(slot_sum);
    // the writer completes a row, the reader's lowest needed row moves up by lo_delta
    free_d = free_q + CntW'(in_fire && (wr_col_q == XW'(W - 1))) - CntW'(lo_delta);
    need_d = need_q + CntW'(in_fire && (wr_col_q == XW'(W - 1))) - CntW'(hi_delta);
  end

  // ------------------------------------------------------------------ window read
  for (genvar kh = 0; kh < KH; kh++) begin : g_row
    logic signed [IW-1:0] r;
    logic                 r_ok;
    logic [SlotW:0]       s_sum;
    logic [SlotW-1:0]     slot;
    assign r     = rd_top_q + IW'(kh);
    assign r_ok  = (r >= 0) && (r < HS);
    assign s_sum = {1'b0, rd_slot_q} + (r_ok ? (SlotW + 1)'(r - lo_img) : '0);
    assign slot  = (s_sum >= (SlotW + 1)'(Rows)) ? SlotW'(s_sum - (SlotW + 1)'(Rows))
                                                 : SlotW'(s_sum);
    for (genvar kw = 0; kw < KW; kw++) begin : g_col
      logic signed [IW-1:0] c;
      logic                 c_ok;
      logic [AddrW-1:0]     addr;
      assign c    = rd_left_q + IW'(kw);
      assign c_ok = (c >= 0) && (c < WS);
      assign addr = AddrW'(slot * W) + (c_ok ? AddrW'(c) : '0);
      assign out_data_o[((kh * KW + kw) * PixW) +: PixW] = (r_ok && c_ok) ? mem_q[addr] : '0;
    end
  end

  // ------------------------------------------------------------------ flops
  always_ff @(posedge clk_i) begin
    if (in_fire) begin
      mem_q[wr_addr] <= in_data_i;
    end
  end

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      wr_col_q  <= '0;
      wr_slot_q <= '0;
      rd_oy_q   <= '0;
      rd_ox_q   <= '0;
      rd_top_q  <= TopRst;
      rd_left_q <= LftRst;
      rd_slot_q <= '0;
      free_q    <= '0;
      need_q    <= -CntW'(HiRst);
    end else begin
      wr_col_q  <= wr_col_d;
      wr_slot_q <= wr_slot_d;
      rd_oy_q   <= rd_oy_d;
      rd_ox_q   <= rd_ox_d;
      rd_top_q  <= rd_top_d;
      rd_left_q <= rd_left_d;
      rd_slot_q <= rd_slot_d;
      free_q    <= free_d;
      need_q    <= need_d;
    end
  end

endmodule
