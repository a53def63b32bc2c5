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
// Structure: a circular buffer of Rows = KH * ceil((2*KH + StrideH) / KH) input rows held in
// KH x KW banks of inferable RAM (one write port, one synchronous read port each): global row g,
// column x sits in bank (g mod KH, x mod KW) at word {(g div KH) mod RB, x div KW}. The KH rows
// and KW columns of a window are consecutive, so a window reads every bank exactly once: one
// read per bank and cycle. A writer (one input pixel per cycle) and a reader (one window per
// cycle) run independently: the reader starts output row oy once every input row it needs is
// complete, the writer fills a row once the reader no longer needs the row it held (both
// counts are registers, and in_ready_o and the read enable are flops: their compares registered;
// the counts' per-row steps are registers looked up from the reader's row, and each count
// takes one of four sums precomputed from flops; the room and ahead flags are each one of four
// sign bits of registers (the free and need counts kept with their four offsets), so no adder
// or compare sits behind a handshake).
// Read/write collisions: the reader reads only complete rows, the writer writes only the row in
// progress, so a read never meets the write of the same word (positions in the padding may
// read any word: they are masked). The memories are marked no_rw_check: no bypass logic.
// Pipeline after the read: the bank read registers (RAM output), then the window register
// (banks rotated into (kh, kw) order, padding masked to zero). Padding costs no cycles.
// Memory: KH*KW banks of RB * 2^ceil(log2(ceil(W/KW))) words x C*BITS bits; RamStyle picks the
//   kind: 0 by size (block RAM when a bank holds >= BramBits bits, else LUT RAM), 1 LUT RAM,
//   2 block RAM (Yosys ram_style "distributed" / "block"; on ECP5 TRELLIS_DPR16X4 / DP16KD).
//
// Back-pressure: yes, on both sides. in_ready_o and out_valid_o are functions of registers only;
//   out_ready_i reaches the reader's state and the read enables (the pipeline advances when the
//   window register is empty or being read).
// Fan-out (timing): out_ready_i and in_valid_i arrive late (flops of the neighbouring FIFOs) and
//   pick the next state of every count. Each group of those loads decodes the two events from
//   its own copies (flop_copies) of the flops they depend on (out_valid, ahead, last column,
//   room, last input column), so no late net drives one LUT that fans out to a hundred loads;
//   the per-row step registers load the cycle after the reader leaves a row (OW > 1: the next
//   row change is at least two cycles later), off the late nets altogether.
// Throughput: up to one input pixel AND one output window per cycle.
//   Steady state (input always valid, output always ready), cycles per image:
//     max(H*W, OH*OW)   exactly (asserted by tests/rtl/test_conv_blocks.py).
// Latency: the first window of an image is valid three cycles after input row
//   min(H-1, KH-1-PadT) of that image has been accepted (count update, bank read, window register).
// Reset: synchronous, active low (rst_ni held low for at least one clock edge).
module sliding_window #(
  parameter int C        = 1,
  parameter int H        = 8,
  parameter int W        = 8,
  parameter int BITS     = 1,
  parameter int KH       = 3,
  parameter int KW       = 3,
  parameter int StrideH  = 1,
  parameter int StrideW  = 1,
  parameter int PadT     = 0,
  parameter int PadL     = 0,
  parameter int PadB     = 0,
  parameter int PadR     = 0,
  parameter int RamStyle = 0,     // 0: by size, 1: LUT RAM, 2: block RAM
  parameter int BramBits = 4096   // RamStyle 0: banks of at least this many bits go to block RAM
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
  localparam int RB    = (2 * KH + StrideH + KH - 1) / KH;  // rows per bank (>= 2)
  localparam int Rows  = KH * RB;
  localparam int CB    = (W + KW - 1) / KW;                  // columns per bank
  localparam int RsW   = $clog2(RB);
  localparam int CiW   = (CB > 1) ? $clog2(CB) : 1;
  localparam int Depth = RB << CiW;                         // bank words {row slot, column}
  localparam int AddrW = RsW + CiW;
  localparam int RbW   = (KH > 1) ? $clog2(KH) : 1;
  localparam int CbW   = (KW > 1) ? $clog2(KW) : 1;
  localparam bit Bram  = (RamStyle == 2) || ((RamStyle == 0) && (Depth * PixW >= BramBits));
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
  // global row of the window top, modulo Rows, as (row bank, row slot): at reset -PadT mod Rows;
  // it moves by StrideH inside an image and by H - (OH-1)*StrideH (mod Rows) to the next image
  localparam int TopG   = (Rows - PadT) % Rows;
  localparam int DNext  = StrideH % Rows;
  localparam int DImg   = (((H - (OH - 1) * StrideH) % Rows) + Rows) % Rows;
  // window left column as (column bank, column index) = (L mod KW, floor(L / KW)); L = -PadL at
  // the row start (PadL < KW), + StrideW per window
  localparam int LrRst  = (KW - PadL) % KW;
  localparam int LqRst  = (PadL > 0) ? -1 : 0;

  // ------------------------------------------------------------------ writer
  logic [XW-1:0]    wr_col_q, wr_col_d;
  logic [CbW-1:0]   wr_cb_q,  wr_cb_d;    // column bank  x mod KW
  logic [CiW-1:0]   wr_ci_q,  wr_ci_d;    // column index x div KW
  logic [RbW-1:0]   wr_rb_q,  wr_rb_d;    // row bank     g mod KH
  logic [RsW-1:0]   wr_rs_q,  wr_rs_d;    // row slot     (g div KH) mod RB
  logic             in_fire;

  // ------------------------------------------------------------------ reader
  logic [OyW-1:0]        rd_oy_q,   rd_oy_d;
  logic [OxW-1:0]        rd_ox_q,   rd_ox_d;
  logic signed [IW-1:0]  rd_top_q,  rd_top_d;   // oy*StrideH - PadT
  logic signed [IW-1:0]  rd_left_q, rd_left_d;  // ox*StrideW - PadL
  logic [RbW-1:0]        rd_tb_q,   rd_tb_d;    // row bank of the window top
  logic [RsW-1:0]        rd_ts_q,   rd_ts_d;    // row slot of the window top
  logic [CbW-1:0]        rd_lr_q,   rd_lr_d;    // column bank of the left column
  logic signed [IW-1:0]  rd_lq_q,   rd_lq_d;    // floor(left / KW) (>= -1)
  logic                  adv;                   // the pipeline after the read moves

  // Event groups (see Fan-out above): 0 the counts (room_d, ahead_d, fr_d, nd_d); GR (1)
  // the reader (position, s1_valid_q, the out_valid copies, the step load). Group g decodes
  // rd_fire / row_left from its copies ahead_c[g], oxl_c[g], ov_c[g+1] and (g < GR) row_done
  // from room_c[1], wrl_c[g]. (More groups, i.e. more copies of the late D nets, measured
  // slower: the copies spread and their D nets got long.)
  localparam int NG = 2;
  localparam int GR = NG - 1;
  logic [NG-1:0]         ahead_c;               // need > 0 (flop copies)
  logic [NG-1:0]         oxl_c;                 // rd_ox_q == OW - 1 (flop copies)
  logic [NG:0]           ov_c;                  // [0] out_valid_q (port, adv), [g+1] group g
  logic [1:0]            room_c;                // [0] in_ready_o, [1] in_fire and row_done
  logic [GR-1:0]         wrl_c;                 // wr_col_q == W - 1 (flop copies)
  logic [NG-1:0]         adv_g, rd_fire_g, row_left_g;
  logic [GR-1:0]         row_done_g;
  logic                  rd_oxl_d, wr_last_d;
  logic                  step_ld;               // load the step registers
  // the reader group's and a writer copy as plain nets (Icarus: no constant selects in always_*)
  logic                  rd_fire, rd_oxl, wr_last;
  assign rd_fire = rd_fire_g[GR];
  assign rd_oxl  = oxl_c[GR];
  assign wr_last = wrl_c[0];
  // free = wr_cnt - (base + lo) (rows the writer may still fill, less Rows) is kept as four
  // registers whose sign bits are the four candidate room flags (free' < Rows), as nd_q for
  // ahead: fr_q[0] = free - Rows, fr_q[1] = free + 1 - Rows, fr_q[2] = free - lo_adv - Rows,
  // fr_q[3] = free + 1 - lo_adv - Rows (lo_adv: the current row's): no compare behind the events
  logic [3:0][CntW-1:0]    fr_q, fr_d;   // two's complement
  // need = wr_cnt - (base + hi) (rows the reader is ahead by) is kept as four registers whose
  // sign bits are the four candidate ahead flags: ahead_d is a 4:1 mux of flop bits (no
  // compare behind the late row_done / row_left): nd_q[0] = need - 1, nd_q[1] = need,
  // nd_q[2] = need - hi_adv - 1, nd_q[3] = need - hi_adv (hi_adv: the current row's)
  logic [3:0][CntW-1:0]    nd_q, nd_d;   // two's complement
  // free < Rows, need > 0 (the next values; flopped in room_c, ahead_c)
  logic                   room_d, ahead_d;

  // ------------------------------------------------------------------ pipeline
  logic                    s1_valid_q;
  logic [KH-1:0][RbW-1:0]  rsel, s1_rsel_q;  // bank of window row kh
  logic [KW-1:0][CbW-1:0]  csel, s1_csel_q;  // bank of window column kw
  logic [KH-1:0]           s1_rok_q;       // row kh of the window lies in the image
  logic [KW-1:0]           s1_cok_q;       // column kw of the window lies in the image
  logic [KH*KW*PixW-1:0]   bank_data;      // bank (b, j) at [(b*KW + j)*PixW +: PixW]
  logic [KH-1:0]           rok;
  logic [KW-1:0]           cok;
  logic [KH*KW*PixW-1:0]   rowd;           // window row kh, bank column j at [(kh*KW + j)*PixW]
  logic [KH*KW*PixW-1:0]   win;
  logic [KH*KW*PixW-1:0]   out_q;

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

  // how far the lowest / highest needed global row moves when the reader leaves output row i
  function automatic int lo_adv_of(input int i);
    lo_adv_of = (i == OH - 1) ? H + lo_of(0) - lo_of(i) : lo_of(i + 1) - lo_of(i);
  endfunction
  function automatic int hi_adv_of(input int i);
    hi_adv_of = (i == OH - 1) ? H + hi_of(0) - hi_of(i) : hi_of(i + 1) - hi_of(i);
  endfunction

  // The counts' steps as registers, looked up a cycle early from the reader's next row
  // (rd_oy_q's successor): -adv and 1 - adv for the row the reader is on. fr_q / nd_q then take
  // one of four precomputed sums (no step, +1 row written, -adv row left, both) selected by the
  // two late events, and room_d / ahead_d the matching sign bit: no constant lookup, adder or
  // compare behind the handshakes.
  logic signed [CntW-1:0] lo_m_q, lo_m_d, lo_pm_q, lo_pm_d;   // -lo_adv, 1 - lo_adv
  logic signed [CntW-1:0] hi_m_q, hi_m_d, hi_pm_q, hi_pm_d;   // -hi_adv, 1 - hi_adv
  logic signed [CntW-1:0] ln_m_q, ln_m_d, ln_pm_q, ln_pm_d;   // -lo_adv, 1 - lo_adv of the next row
  logic signed [CntW-1:0] hn_m_q, hn_m_d, hn_pm_q, hn_pm_d;   // -hi_adv, 1 - hi_adv of the next row
  // OW > 1: loaded the cycle after the reader leaves its row (step_ld: a flop), from rd_oy_q,
  // the new row; OW = 1 (a row change every window): loaded with row_left, from the row after
  // rd_oy_q. Either way no lookup sits behind the late row_left.
  localparam int LdOff = (OW > 1) ? 0 : 1;
  logic signed [CntW-1:0] lo_m_n, lo_pm_n, hi_m_n, hi_pm_n, ln_m_n, ln_pm_n, hn_m_n, hn_pm_n;
  always_comb begin
    lo_m_n   = '0;
    lo_pm_n  = '0;
    hi_m_n   = '0;
    hi_pm_n  = '0;
    ln_m_n   = '0;
    ln_pm_n  = '0;
    hn_m_n   = '0;
    hn_pm_n  = '0;
    for (int i = 0; i < OH; i++) begin
      // row i (OW = 1: the row after output row i - 1, wrapping to the next image)
      if (rd_oy_q == OyW'((i + 2 * OH - LdOff) % OH)) begin
        lo_m_n   = CntW'(-lo_adv_of(i));
        lo_pm_n  = CntW'(1 - lo_adv_of(i));
        hi_m_n   = CntW'(-hi_adv_of(i));
        hi_pm_n  = CntW'(1 - hi_adv_of(i));
      end
      // the row after that (its steps, for fr_q[2..3], nd_q[2..3] once the reader is on row i)
      if (rd_oy_q == OyW'((i + 2 * OH - 1 - LdOff) % OH)) begin
        ln_m_n   = CntW'(-lo_adv_of(i));
        ln_pm_n  = CntW'(1 - lo_adv_of(i));
        hn_m_n   = CntW'(-hi_adv_of(i));
        hn_pm_n  = CntW'(1 - hi_adv_of(i));
      end
    end
  end
  assign lo_m_d   = step_ld  ? lo_m_n   : lo_m_q;
  assign lo_pm_d  = step_ld  ? lo_pm_n  : lo_pm_q;
  assign hi_m_d   = step_ld  ? hi_m_n   : hi_m_q;
  assign hi_pm_d  = step_ld  ? hi_pm_n  : hi_pm_q;
  assign ln_m_d   = step_ld  ? ln_m_n   : ln_m_q;
  assign ln_pm_d  = step_ld  ? ln_pm_n  : ln_pm_q;
  assign hn_m_d   = step_ld  ? hn_m_n   : hn_m_q;
  assign hn_pm_d  = step_ld  ? hn_pm_n  : hn_pm_q;

  assign in_ready_o  = room_c[0];
  assign in_fire     = in_valid_i & room_c[1];
  // adv enables the read and window registers (wide fan-out); the groups decode their own
  assign adv         = !ov_c[0] || out_ready_i;
  for (genvar g = 0; g < NG; g++) begin : g_ev
    assign adv_g[g]      = !ov_c[g + 1] || out_ready_i;
    assign rd_fire_g[g]  = ahead_c[g] && adv_g[g];
    assign row_left_g[g] = rd_fire_g[g] && oxl_c[g];
    if (g < GR) begin : g_done
      assign row_done_g[g] = in_valid_i && room_c[1] && wrl_c[g];
    end
  end
  assign out_valid_o = ov_c[0];
  assign out_data_o  = out_q;

  if (OW > 1) begin : g_step_late
    logic row_left_q;
    always_ff @(posedge clk_i) begin
      if (!rst_ni) begin
        row_left_q <= 1'b0;
      end else begin
        row_left_q <= row_left_g[GR];
      end
    end
    assign step_ld = row_left_q;
  end else begin : g_step_now
    assign step_ld = row_left_g[GR];
  end

  // ------------------------------------------------------------------ writer next state
  always_comb begin
    wr_col_d = wr_col_q;
    wr_cb_d  = wr_cb_q;
    wr_ci_d  = wr_ci_q;
    wr_rb_d  = wr_rb_q;
    wr_rs_d  = wr_rs_q;
    wr_last_d = wr_last;
    if (in_fire) begin
      wr_last_d = (W == 1) || (wr_col_q == XW'(W - 2));
      if (wr_col_q == XW'(W - 1)) begin
        wr_col_d = '0;
        wr_cb_d  = '0;
        wr_ci_d  = '0;
        if (wr_rb_q == RbW'(KH - 1)) begin
          wr_rb_d = '0;
          wr_rs_d = (wr_rs_q == RsW'(RB - 1)) ? '0 : wr_rs_q + RsW'(1);
        end else begin
          wr_rb_d = wr_rb_q + RbW'(1);
        end
      end else begin
        wr_col_d = wr_col_q + XW'(1);
        if (wr_cb_q == CbW'(KW - 1)) begin
          wr_cb_d = '0;
          wr_ci_d = wr_ci_q + CiW'(1);
        end else begin
          wr_cb_d = wr_cb_q + CbW'(1);
        end
      end
    end
  end

  // ------------------------------------------------------------------ reader next state
  // (bank, slot) + d (mod Rows) and (bank, index) + StrideW, by elaboration-time constants
  logic [RbW:0] tb_sum;
  logic [RsW:0] ts_sum;
  logic [CbW:0] lr_sum;
  logic         tb_wrap, lr_wrap;
  logic         img_end;
  assign img_end = (rd_oy_q == OyW'(OH - 1));
  assign tb_sum  = {1'b0, rd_tb_q} + (img_end ? (RbW + 1)'(DImg % KH) : (RbW + 1)'(DNext % KH));
  assign tb_wrap = tb_sum >= (RbW + 1)'(KH);
  assign ts_sum  = {1'b0, rd_ts_q} + (img_end ? (RsW + 1)'(DImg / KH) : (RsW + 1)'(DNext / KH))
                   + (RsW + 1)'(tb_wrap);
  assign lr_sum  = {1'b0, rd_lr_q} + (CbW + 1)'(StrideW % KW);
  assign lr_wrap = lr_sum >= (CbW + 1)'(KW);

  always_comb begin
    rd_oy_d   = rd_oy_q;
    rd_ox_d   = rd_ox_q;
    rd_top_d  = rd_top_q;
    rd_left_d = rd_left_q;
    rd_tb_d   = rd_tb_q;
    rd_ts_d   = rd_ts_q;
    rd_lr_d   = rd_lr_q;
    rd_lq_d   = rd_lq_q;
    rd_oxl_d  = rd_oxl;
    if (rd_fire) begin
      rd_oxl_d  = (OW == 1) || (rd_ox_q == OxW'(OW - 2));
      if (rd_oxl) begin
        rd_ox_d   = '0;
        rd_left_d = LftRst;
        rd_lr_d   = CbW'(LrRst);
        rd_lq_d   = IW'(LqRst);
        rd_oy_d   = img_end ? '0 : rd_oy_q + OyW'(1);
        rd_top_d  = img_end ? TopRst : rd_top_q + SHS;
        rd_tb_d   = tb_wrap ? RbW'(tb_sum - (RbW + 1)'(KH)) : RbW'(tb_sum);
        rd_ts_d   = (ts_sum >= (RsW + 1)'(RB)) ? RsW'(ts_sum - (RsW + 1)'(RB)) : RsW'(ts_sum);
      end else begin
        rd_ox_d   = rd_ox_q + OxW'(1);
        rd_left_d = rd_left_q + SWS;
        rd_lr_d   = lr_wrap ? CbW'(lr_sum - (CbW + 1)'(KW)) : CbW'(lr_sum);
        rd_lq_d   = rd_lq_q + IW'(StrideW / KW) + IW'(lr_wrap);
      end
    end
  end

  // the writer completes a row, the reader's lowest / highest needed row moves up: the four
  // sums (and their sign bits) from flops only, the late row_done / row_left pick one
  logic [3:0]             room_s, ahead_s;
  // the next value of a count register: + 1 per row written (done), + its row-left step
  // s_m (the row's -adv) or s_pm (1 - adv, both) when the reader leaves a row (left): the four
  // sums from flops, the late events pick one
  function automatic logic [CntW-1:0] cnt_next(input logic [CntW-1:0] c, input logic [CntW-1:0] s_m,
                                               input logic [CntW-1:0] s_pm, input logic left,
                                               input logic done);
    logic [CntW-1:0] a0, a1, a2, a3;
    a0 = c;
    a1 = c + CntW'(1);
    a2 = c + s_m;
    a3 = c + s_pm;
    cnt_next = left ? (done ? a3 : a2) : (done ? a1 : a0);
  endfunction
  // fr_q[0], fr_q[1] move with free (+1 row written, -lo_adv row left), nd_q[0], nd_q[1] with
  // need (-hi_adv); fr_q[2..3] and nd_q[2..3] also subtract the adv of the reader's new row when
  // it leaves one, so their row-left steps are the next row's (ln_*, hn_*)
  for (genvar k = 0; k < 4; k++) begin : g_cnt
    assign fr_d[k]    = cnt_next(fr_q[k], (k < 2) ? lo_m_q : ln_m_q, (k < 2) ? lo_pm_q : ln_pm_q,
                                 row_left_g[0], row_done_g[0]);
    assign nd_d[k]    = cnt_next(nd_q[k], (k < 2) ? hi_m_q : hn_m_q, (k < 2) ? hi_pm_q : hn_pm_q,
                                 row_left_g[0], row_done_g[0]);
    assign room_s[k]  = fr_q[k][CntW-1];     // fr_q[k] < 0
    assign ahead_s[k] = ~nd_q[k][CntW-1];    // nd_q[k] >= 0
  end
  assign room_d  = room_s[{row_left_g[0], row_done_g[0]}];
  assign ahead_d = ahead_s[{row_left_g[0], row_done_g[0]}];

  // ------------------------------------------------------------------ padding masks
  // (without padding on an axis every window row / column lies in the image: a constant 1,
  // no compare on the way to s1_rok_q / s1_cok_q)
  for (genvar kh = 0; kh < KH; kh++) begin : g_rok
    if (PadT == 0 && PadB == 0) begin : g_in
      assign rok[kh] = 1'b1;
    end else begin : g_pad
      logic signed [IW-1:0] r;
      assign r       = rd_top_q + IW'(kh);
      assign rok[kh] = (r >= 0) && (r < HS);
    end
  end
  for (genvar kw = 0; kw < KW; kw++) begin : g_cok
    if (PadL == 0 && PadR == 0) begin : g_in
      assign cok[kw] = 1'b1;
    end else begin : g_pad
      logic signed [IW-1:0] c;
      assign c       = rd_left_q + IW'(kw);
      assign cok[kw] = (c >= 0) && (c < WS);
    end
  end

  // ------------------------------------------------------------------ banks
  for (genvar b = 0; b < KH; b++) begin : g_rb
    // row slot of the window row in bank b: the top's slot, or the next one for banks below
    // the top's bank (their row wrapped into the next slot)
    // (the last bank never lies below the top's bank)
    logic [RsW-1:0] rs;
    if (b == KH - 1) begin : g_last
      assign rs = rd_ts_q;
    end else begin : g_below
      assign rs = (RbW'(b) < rd_tb_q) ? ((rd_ts_q == RsW'(RB - 1)) ? '0 : rd_ts_q + RsW'(1))
                                      : rd_ts_q;
    end
    for (genvar j = 0; j < KW; j++) begin : g_cb
      logic [CiW-1:0]   ci;
      logic [AddrW-1:0] raddr, waddr;
      logic             we;
      logic [PixW-1:0]  rdata_q;
      if (j == KW - 1) begin : g_last
        assign ci = CiW'(rd_lq_q);
      end else begin : g_below
        assign ci = CiW'(rd_lq_q + IW'(CbW'(j) < rd_lr_q));
      end
      assign raddr = {rs, ci};
      assign waddr = {wr_rs_q, wr_ci_q};
      assign we    = in_fire && (wr_rb_q == RbW'(b)) && (wr_cb_q == CbW'(j));
      if (Bram) begin : g_bram
        (* ram_style = "block", no_rw_check *)
        logic [PixW-1:0] mem_q [Depth];
        always_ff @(posedge clk_i) begin
          if (we) begin
            mem_q[waddr] <= in_data_i;
          end
        end
        always_ff @(posedge clk_i) begin
          if (adv) begin
            rdata_q <= mem_q[raddr];
          end
        end
      end else begin : g_lutram
        (* ram_style = "distributed", no_rw_check *)
        logic [PixW-1:0] mem_q [Depth];
        always_ff @(posedge clk_i) begin
          if (we) begin
            mem_q[waddr] <= in_data_i;
          end
        end
        always_ff @(posedge clk_i) begin
          if (adv) begin
            rdata_q <= mem_q[raddr];
          end
        end
      end
      assign bank_data[(b * KW + j) * PixW +: PixW] = rdata_q;
    end
  end

  // ------------------------------------------------------------------ window: rotate and mask
  // window row kh comes from bank (tb + kh) mod KH, column kw from bank (lr + kw) mod KW: the
  // selects are computed at the read and registered with it, then a KH:1 mux per row and a
  // KW:1 mux per column (no crossbar)
  always_comb begin
    for (int kh = 0; kh < KH; kh++) begin
      rsel[kh] = (32'(rd_tb_q) + kh >= KH) ? RbW'(32'(rd_tb_q) + kh - KH) : RbW'(32'(rd_tb_q) + kh);
    end
    for (int kw = 0; kw < KW; kw++) begin
      csel[kw] = (32'(rd_lr_q) + kw >= KW) ? CbW'(32'(rd_lr_q) + kw - KW) : CbW'(32'(rd_lr_q) + kw);
    end
  end

  always_comb begin
    rowd = '0;
    for (int kh = 0; kh < KH; kh++) begin
      for (int b = 0; b < KH; b++) begin
        if (s1_rsel_q[kh] == RbW'(b)) begin
          rowd[kh * KW * PixW +: KW * PixW] = bank_data[b * KW * PixW +: KW * PixW];
        end
      end
    end
    win = '0;
    for (int kh = 0; kh < KH; kh++) begin
      for (int kw = 0; kw < KW; kw++) begin
        for (int j = 0; j < KW; j++) begin
          if (s1_csel_q[kw] == CbW'(j)) begin
            win[(kh * KW + kw) * PixW +: PixW] = rowd[(kh * KW + j) * PixW +: PixW]
                                                 & {PixW{s1_rok_q[kh] & s1_cok_q[kw]}};
          end
        end
      end
    end
  end

  // ------------------------------------------------------------------ flops
  always_ff @(posedge clk_i) begin
    if (adv) begin
      s1_rsel_q <= rsel;
      s1_csel_q <= csel;
      s1_rok_q  <= rok;
      s1_cok_q  <= cok;
      out_q     <= win;
    end
  end

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      wr_col_q    <= '0;
      wr_cb_q     <= '0;
      wr_ci_q     <= '0;
      wr_rb_q     <= '0;
      wr_rs_q     <= '0;
      rd_oy_q     <= '0;
      rd_ox_q     <= '0;
      rd_top_q    <= TopRst;
      rd_left_q   <= LftRst;
      rd_tb_q     <= RbW'(TopG % KH);
      rd_ts_q     <= RsW'(TopG / KH);
      rd_lr_q     <= CbW'(LrRst);
      rd_lq_q     <= IW'(LqRst);
      fr_q[0]     <= -CntW'(Rows);
      fr_q[1]     <= CntW'(1) - CntW'(Rows);
      fr_q[2]     <= -CntW'(Rows) - CntW'(lo_adv_of(0));
      fr_q[3]     <= CntW'(1) - CntW'(Rows) - CntW'(lo_adv_of(0));
      nd_q[0]     <= -CntW'(HiRst) - CntW'(1);
      nd_q[1]     <= -CntW'(HiRst);
      nd_q[2]     <= -CntW'(HiRst) - CntW'(hi_adv_of(0)) - CntW'(1);
      nd_q[3]     <= -CntW'(HiRst) - CntW'(hi_adv_of(0));
      lo_m_q      <= CntW'(-lo_adv_of(0));
      lo_pm_q     <= CntW'(1 - lo_adv_of(0));
      hi_m_q      <= CntW'(-hi_adv_of(0));
      hi_pm_q     <= CntW'(1 - hi_adv_of(0));
      ln_m_q      <= CntW'(-lo_adv_of(1 % OH));
      ln_pm_q     <= CntW'(1 - lo_adv_of(1 % OH));
      hn_m_q      <= CntW'(-hi_adv_of(1 % OH));
      hn_pm_q     <= CntW'(1 - hi_adv_of(1 % OH));
      s1_valid_q  <= 1'b0;
    end else begin
      wr_col_q    <= wr_col_d;
      wr_cb_q     <= wr_cb_d;
      wr_ci_q     <= wr_ci_d;
      wr_rb_q     <= wr_rb_d;
      wr_rs_q     <= wr_rs_d;
      rd_oy_q     <= rd_oy_d;
      rd_ox_q     <= rd_ox_d;
      rd_top_q    <= rd_top_d;
      rd_left_q   <= rd_left_d;
      rd_tb_q     <= rd_tb_d;
      rd_ts_q     <= rd_ts_d;
      rd_lr_q     <= rd_lr_d;
      rd_lq_q     <= rd_lq_d;
      fr_q        <= fr_d;
      nd_q        <= nd_d;
      lo_m_q      <= lo_m_d;
      lo_pm_q     <= lo_pm_d;
      hi_m_q      <= hi_m_d;
      hi_pm_q     <= hi_pm_d;
      ln_m_q      <= ln_m_d;
      ln_pm_q     <= ln_pm_d;
      hn_m_q      <= hn_m_d;
      hn_pm_q     <= hn_pm_d;
      if (adv_g[GR]) begin
        s1_valid_q  <= rd_fire_g[GR];
      end
    end
  end

  // the flop copies of the event groups (kept apart: flop_copies)
  localparam bit AheadRst = (-CntW'(HiRst)) > 0;
  flop_copies #(.Width(1), .Copies(NG), .ResetVal(AheadRst)) u_ahead_c (
    .clk_i, .rst_ni, .en_i(1'b1), .d_i(ahead_d), .q_o(ahead_c));
  flop_copies #(.Width(1), .Copies(NG), .ResetVal(OW == 1)) u_oxl_c (
    .clk_i, .rst_ni, .en_i(1'b1), .d_i(rd_oxl_d), .q_o(oxl_c));
  flop_copies #(.Width(1), .Copies(NG + 1), .ResetVal(1'b0)) u_ov_c (
    .clk_i, .rst_ni, .en_i(adv_g[GR]), .d_i(s1_valid_q), .q_o(ov_c));
  flop_copies #(.Width(1), .Copies(2), .ResetVal(1'b1)) u_room_c (
    .clk_i, .rst_ni, .en_i(1'b1), .d_i(room_d), .q_o(room_c));
  flop_copies #(.Width(1), .Copies(GR), .ResetVal(W == 1)) u_wrl_c (
    .clk_i, .rst_ni, .en_i(1'b1), .d_i(wr_last_d), .q_o(wrl_c));

endmodule
