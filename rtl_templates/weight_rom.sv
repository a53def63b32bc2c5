// weight_rom: the mvau's weight memory (fastinference), a synchronous-read ROM of Words words
// of Width bits, in one of two styles chosen by the Lut parameter.
//
// Data layout: word a at rom[a], loaded with $readmemh from File (hex, one word a line, the
// name relative to the simulator's working directory); the mvau's word layout is in mvau.sv.
//
// Address: addr_i is the reader's step counter register (its current value, a flop). This
// module registers it (in several copies) when en_i (the pipeline's enable, which should be a
// flop too), flop to flop: no combinational step logic drives the address copies. The read of
// address A (addr_i in cycle t, en_i high) appears on data_o in cycle t + Latency, every
// register enabled by en_i: while en_i is low everything holds, while the counter holds (a
// bubble) the same word is read again. Throughput: one read a cycle. rst_ni is unused (no
// control state: datapath registers only).
//
// Latency = 3 + max(0, ceil((AddrW - 6) / 4) - 1): 3 cycles up to 1,024 words, 4 up to 16,384,
// in both styles (fastinference.backends.rtl.weight_rom_latency; the mvau delays its input
// slice and step flags to match). A style that needs fewer cycles pads with plain registers
// at the output (delay_line.sv).
//
// Lut = 0 (the default flow, Yosys synth_xilinx): the address registered in a_q, one memory
//   read registered in r_q and re-registered (the read register is absorbed by a block RAM's output). At least 32 words
//   and 4 kbit: block RAM (rom_style "block"; Yosys otherwise maps e.g. a 64 x 512 ROM to
//   logic at ~3.4 LUT per bit); smaller: the tool's choice.
// Lut = 1 (the ECP5 timing flow: fastinference synth reads the RTL with -DFI_ECP5, see
//   mvau.sv): a banked LUT ROM with no block RAM. nextpnr-ecp5 times every DP16KD read with
//   its 5.6 ns clock-to-out, which caps a design near 135 MHz. Banks of 64 words (one LUT6 =
//   4 LUT4 + PFUMX + L6MUX per bit), each bank's word registered; the bank address (6 bits) in
//   one register copy per GroupW word bits of each bank, so no address net drives more than
//   about 4 * GroupW LUT4 inputs; then a 16:1 bank-select mux per cycle (two LUT6 levels),
//   registered, its select bits re-registered in one copy per SelGroupW word bits of each
//   mux. Flops: AddrW per copy, Width per bank and per mux output.
module weight_rom #(
  parameter int Words   = 64,
  parameter int Width   = 8,
  parameter int AddrW   = 6,     // $clog2(Words), at least 1
  parameter bit Lut     = 1'b0,
  parameter int Latency = 3,     // must equal the formula above (the mvau passes it)
  parameter     File    = ""
) (
  input  logic             clk_i,
  input  logic             rst_ni,
  input  logic             en_i,
  input  logic [AddrW-1:0] addr_i,
  output logic [Width-1:0] data_o
);

  // ---------------------------------------------------------------- one word
  if (Words == 1) begin : g_one
    /* verilator lint_off UNDRIVEN */
    logic [Width-1:0] rom [1];
    /* verilator lint_on UNDRIVEN */
    if (File != "") begin : g_init
      initial $readmemh(File, rom, 0, 0);
    end
    logic unused_addr;
    assign unused_addr = ^addr_i;
    delay_line #(.Width(Width), .Depth(Latency)) u_delay (
      .clk_i, .rst_ni, .en_i, .d_i(rom[0]), .q_o(data_o)
    );

  // ---------------------------------------------------------------- one memory (default flow)
  end else if (!Lut) begin : g_mem
    localparam bit Block = (Words >= 32) && (Words * Width >= 4096);
    logic [AddrW-1:0] a_q;
    logic [Width-1:0] r_q;
    always_ff @(posedge clk_i) begin
      if (en_i) a_q <= addr_i;
    end
    if (Block) begin : g_block
      /* verilator lint_off UNDRIVEN */
      (* rom_style = "block", ram_style = "block" *) logic [Width-1:0] rom [Words];
      /* verilator lint_on UNDRIVEN */
      if (File != "") begin : g_init
        initial $readmemh(File, rom, 0, Words - 1);
      end
      always_ff @(posedge clk_i) begin
        if (en_i) r_q <= rom[a_q];
      end
    end else begin : g_tool
      /* verilator lint_off UNDRIVEN */
      logic [Width-1:0] rom [Words];
      /* verilator lint_on UNDRIVEN */
      if (File != "") begin : g_init
        initial $readmemh(File, rom, 0, Words - 1);
      end
      always_ff @(posedge clk_i) begin
        if (en_i) r_q <= rom[a_q];
      end
    end
    // the address register, the read register, then Latency - 2 plain registers
    delay_line #(.Width(Width), .Depth(Latency - 2)) u_delay (
      .clk_i, .rst_ni, .en_i, .d_i(r_q), .q_o(data_o)
    );

  // ---------------------------------------------------------------- banked LUT ROM (ECP5)
  end else begin : g_lut
    localparam int BankAw    = (AddrW < 6) ? AddrW : 6;
    localparam int BankWords = 1 << BankAw;
    localparam int Banks     = (Words + BankWords - 1) / BankWords;
    localparam int HiW       = AddrW - BankAw;          // bank-select bits
    localparam int MuxLv     = (HiW + 3) / 4;           // 16:1 mux levels
    localparam int Pad       = Latency - 2 - MuxLv;     // plain output registers
    localparam int GroupW    = 8;                       // word bits per bank address copy
    localparam int Groups    = (Width + GroupW - 1) / GroupW;
    localparam int SelGroupW = 4;                       // word bits per select copy
    localparam int SelGroups = (Width + SelGroupW - 1) / SelGroupW;
    localparam int HiPad     = (MuxLv > 0) ? MuxLv * 4 : 1;   // HiW rounded up to 4s
    localparam int Stride    = Banks * Width;           // one mux level in lv

    /* verilator lint_off UNDRIVEN */
    (* rom_style = "logic", ram_style = "logic" *) logic [Width-1:0] rom [Words];
    /* verilator lint_on UNDRIVEN */
    if (File != "") begin : g_init
      initial $readmemh(File, rom, 0, Words - 1);
    end

    // lv: level 0 = the bank registers, level l = the registered outputs of mux level l;
    // item i of level l at [l*Stride + i*Width +: Width] (ceil(Banks / 16^l) items)
    logic [(MuxLv+1)*Stride-1:0] lv;

    for (genvar b = 0; b < Banks; b++) begin : g_bank
      // one copy of the bank address per group of GroupW word bits (fan-out)
      logic [Groups*BankAw-1:0] a_copies;
      flop_copies #(.Width(BankAw), .Copies(Groups), .HasReset(1'b0)) u_a (
        .clk_i, .rst_ni, .en_i, .d_i(addr_i[BankAw-1:0]), .q_o(a_copies)
      );
      for (genvar c = 0; c < Groups; c++) begin : g_grp
        localparam int Lo = c * GroupW;
        localparam int Wc = (Width - Lo < GroupW) ? Width - Lo : GroupW;
        logic [BankAw-1:0] a_q;
        logic [AddrW-1:0] a;
        logic [Width-1:0] word;
        logic [Wc-1:0]    d_q;
        assign a_q = a_copies[c*BankAw +: BankAw];
        if (HiW > 0) begin : g_hi
          assign a = {HiW'(b), a_q};
        end else begin : g_nohi
          assign a = a_q;
        end
        assign word = rom[a];
        always_ff @(posedge clk_i) begin
          if (en_i) d_q <= word[Lo +: Wc];
        end
        assign lv[b*Width + Lo +: Wc] = d_q;
        if (Wc < Width) begin : g_unused
          logic unused_word;
          assign unused_word = ^word;
        end
      end
    end
    if (MuxLv == 0) begin : g_nomux
      logic unused_d;
      assign unused_d = ^addr_i;
    end else begin : g_mux
      // the bank-select bits: one register (loaded like the copies), then one pipeline
      // register per level; level l selects with bits [4*(l-1) +: 4] of the delayed copy
      logic [HiPad-1:0] hi_q;
      always_ff @(posedge clk_i) begin
        if (en_i) hi_q <= HiPad'(addr_i[AddrW-1:BankAw]);
      end
      // hd[l]: hi_q delayed l cycles (hd[0] = hi_q)
      logic [MuxLv*HiPad-1:0] hd;   // hd[l*HiPad +: HiPad]: hi_q delayed l cycles
      assign hd[HiPad-1:0] = hi_q;
      for (genvar l = 1; l < MuxLv; l++) begin : g_hd
        logic [HiPad-1:0] h_q;
        always_ff @(posedge clk_i) begin
          if (en_i) h_q <= hd[(l-1)*HiPad +: HiPad];
        end
        assign hd[l*HiPad +: HiPad] = h_q;
      end
      logic unused_hd;   // level l uses only its 4 bits of hd's stage l - 1
      assign unused_hd = ^hd;

      for (genvar l = 1; l <= MuxLv; l++) begin : g_lv
        localparam int NIn  = (Banks + (1 << (4 * (l - 1))) - 1) >> (4 * (l - 1));
        localparam int NOut = (NIn + 15) / 16;
        for (genvar o = 0; o < NOut; o++) begin : g_item
          localparam int NSel = (NIn - 16 * o < 16) ? NIn - 16 * o : 16;
          // the select bits in one copy per group of SelGroupW word bits (fan-out)
          logic [SelGroups*4-1:0] s_copies;
          flop_copies #(.Width(4), .Copies(SelGroups), .HasReset(1'b0)) u_s (
            .clk_i, .rst_ni, .en_i, .d_i(hd[(l-1)*HiPad + 4*(l-1) +: 4]), .q_o(s_copies)
          );
          for (genvar c = 0; c < SelGroups; c++) begin : g_grp
            localparam int Lo = c * SelGroupW;
            localparam int Wc = (Width - Lo < SelGroupW) ? Width - Lo : SelGroupW;
            logic [3:0]       s_q;   // this group's copy of the select bits
            logic [16*Wc-1:0] cand;
            logic [Wc-1:0]    m_q;
            assign s_q = s_copies[c*4 +: 4];
            for (genvar i = 0; i < 16; i++) begin : g_cand
              if (i < NSel) begin : g_real
                assign cand[i*Wc +: Wc] = lv[(l-1)*Stride + (16*o + i)*Width + Lo +: Wc];
              end else begin : g_none
                assign cand[i*Wc +: Wc] = '0;
              end
            end
            always_ff @(posedge clk_i) begin
              if (en_i) m_q <= cand[s_q*Wc +: Wc];
            end
            assign lv[l*Stride + o*Width + Lo +: Wc] = m_q;
          end
        end
        if (NOut < Banks) begin : g_tie
          assign lv[l*Stride + NOut*Width +: (Banks - NOut)*Width] = '0;
        end
      end
    end

    // the result and Pad plain registers
    logic [Width-1:0] res;
    assign res = lv[MuxLv*Stride +: Width];
    delay_line #(.Width(Width), .Depth(Pad)) u_pad (
      .clk_i, .rst_ni, .en_i, .d_i(res), .q_o(data_o)
    );
    // tied-off items past each level's count, and the last level's items past the first
    logic unused_lv;
    assign unused_lv = ^lv;
  end

endmodule
