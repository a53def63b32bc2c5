// mvau: matrix-vector-activation unit of one dense layer or one conv window (fastinference).
//
// The one compute block of the RTL backend: binarized (XNOR-popcount), +-1 weights on
// integers, and W-bit weights on integers or bits are all this module (it replaced the older
// mvtu), so there is one datapath, one test bench and one set of timing fixes. For M outputs
// over K inputs it computes acc_j = sum_k w_jk * x_k with
//   weights: WBits = 1: +-1 (bit 1 = +1); WBits > 1: WBits-bit two's complement;
//   inputs:  BinIn = 1: bits (1 = +1, 0 = -1); BinIn = 0: InBits-bit integers, InSigned.
// The hardware accumulates a cheaper sum S with acc = a*S + c_j (a, c_j fixed per layer and
// channel; the writer folds c_j into the thresholds / biases and a into ScoreShift):
//   +-1 x bits ("XNOR"):   S = popcount(xnor(x, w))                        acc = 2S - K
//   +-1 x ints:            S = sum (w ? x : ~x)  (~x = -x - 1, no adder)    acc = S + #(-1 weights)
//   W-bit x bits:          S = sum (x ? w : 0)                               acc = 2S - sum_k w
//   W-bit x ints:          S = sum w * x (LUT multipliers)                   acc = S
// then either
//   Scores = 0: out_j = OutOffset + #{i : S' >= U_ji} (NThr thresholds, OutBits bits; a binary
//               activation is NThr = 1, OutBits = 1), S' = S or ~S per channel (mvau_act)
//   Scores = 1: out_j = (S << ScoreShift) + B_j, 32-bit two's complement.
//
// Folding: PE channels in parallel, SIMD inputs per channel per cycle: SF = ceil(K/SIMD) steps
// per fold, NF = ceil(M/PE) folds, one step a cycle. Pad lanes of the last step contribute 0:
// the writer pads the weights (0, or +1 for +-1 x ints) and the input buffer pads inputs (1
// for bits, else 0), so there is no lane mask. Pad channels (M % PE) are dropped.
//
// Stream protocol (valid/ready on both sides):
//   in : one beat = one whole input vector, element k at in_data_i[k*InBits +: InBits].
//   out: one beat = one whole output vector, element j at out_data_o[j*ElemW +: ElemW]
//        (ElemW = OutBits, or 32 for scores).
// Pipeline (one step a cycle, all stages enabled by one stall signal):
//   s0 step counters, input slice select (an SF:1 mux; for SF > 8 a shift register reloaded
//   from the buffer at each fold's first step, so no wide mux), ROM address | s1, s1b, s1c (and
//   one more stage per WLat > 3) the weight_rom read (WLat cycles) beside a slice delay line |
//   s2 per-lane products (3:2 compressed XNOR bits for the popcount), registered for XNOR
//   and multipliers (one-gate products, x or ~x and x ? w : 0, feed the tree unregistered
//   and its sum is registered instead; +-1 x integers through the weight ROM: the pair sums
//   instead, PairQ) | mvau_tree (XNOR: mvau_popcount), TreeRegs registers | accumulate |
//   final acc register + threshold ROM read | compare register (mvau_act) | count + offset into
//   the output shift register (no fold-index mux) | output register.
// Throughput: exactly SF*NF cycles per vector in steady state (the input is double buffered
//   and every stage is pipelined: no bubble).
// Latency: SF*NF + 4 + (SF*NF > 1) + WLat + TreeRegs + ActRegs cycles from the input handshake
//   to the output handshake (idle unit, output ready; the + 1: the output buffer holds a
//   finished vector a cycle), TreeRegs = $clog2(TermN) / RegEvery (partial
//   products: 1 + ($clog2(TermN) - 1) / RegEvery; PairQTop: $clog2(TermN) - 2), ActRegs =
//   $clog2(NThr) / 2 for more than 7 thresholds (else 0), WLat = weight_rom's read
//   latency: 3 up to 1,024 steps, 4 up to 16,384, one more per further 16x.
// Back-pressure: accepted on the output. SF*NF > 1: a finished vector waits in the output
//   buffer (the fold shift register) until the output register is empty (it loads only
//   when empty, not in the cycle it is read: at most one beat per 2 cycles), and the pipeline
//   stalls while it waits behind a full output register; SF*NF = 1: a finished vector that
//   finds the output register still waiting for out_ready_i goes to a one-vector skid buffer,
//   and the pipeline stalls only while that buffer is full. Either way the stall is a flop: no
//   combinational path from out_ready_i to the pipeline's enables.
// Timing (fan-out): in_ready_o, the last-step flags and every wide enable are flops; the
//   buffers' write enables (their free flags), the slice selects, the output register's
//   enable and the stall flop itself are kept in copies, one per CopyW = 32 bits (and per
//   channel, weight_rom, control for the stall), so no control net drives more than a few
//   hundred flops; the input buffers' full flags, the stall's next value and each channel's
//   fold-done enable start at their own flag flops and stall copies (a few LUT levels each);
//   each stall copy and each free flag computes its own next value in its own LUT from its own
//   copies of the control flops (no next-value net fans out to every copy).
// Reset: synchronous, active low (control flops only; datapath flops have no reset).
//
// Memories (read with $readmemh, file names relative to the simulator's working directory):
//   WeightFile: SF*NF words of PE*SIMD*WBits bits, word nf*SF+sf, lane p*SIMD+s at
//               [(p*SIMD+s)*WBits +: WBits] = weight of channel nf*PE+p for input sf*SIMD+s.
//               In weight_rom.sv (its header has both styles), chosen by WRomLut: 0 (default):
//               one synchronous-read memory, re-registered once; at least 32 words and 4 kbit:
//               block RAM, smaller: the tool's choice. 1 (the default when FI_ECP5 is defined,
//               as fastinference synth does for its ECP5 timing run only): a banked LUT ROM
//               (64-word banks, copied address registers, a registered 16:1 bank-select mux
//               per cycle): nextpnr times every DP16KD read at ~5.6 ns clock-to-out (no OUTREG
//               timing), which capped the MLP at ~135 MHz. Same function, cycles and latency.
//               At most 16 words, +-1 weights on integers or bits (PmPair, XnStep): no ROM
//               read; each weight bit is a constant of the step address merged into the LUT
//               that uses it (see the localparams and rtl_templates/README.md); no
//               weight_rom then. One step (SF = NF = 1): the word is a constant read here
//               (no weight_rom), folded into the logic that uses it. Both keep the latency
//               above (the step address and pair sums pass WLat - 2 extra registers).
//   ThreshFile: NF words of PE*LaneW bits, lane p at [p*LaneW +: LaneW]: Scores = 0:
//               LaneW = 1 + NThr*AccW, {neg, U[NThr-1], ..., U[0]}; Scores = 1: the 32-bit B.
// AccW must hold every reachable S and the clamped thresholds (two's complement).
module mvau #(
  parameter int K          = 8,
  parameter int M          = 4,
  parameter int PE         = 1,
  parameter int SIMD       = 1,
  parameter int WBits      = 1,
  parameter bit BinIn      = 1'b1,
  parameter int InBits     = 1,
  parameter bit InSigned   = 1'b0,
  parameter bit Scores     = 1'b0,
  parameter int NThr       = 1,
  parameter int OutBits    = 1,
  parameter int OutOffset  = 0,
  parameter int AccW       = 16,
  parameter int RegEvery   = 2,
  // copies of out_ready_i (equal values, e.g. stream_fifo's ReadyN): the stall copies read
  // them in groups of about EnN / ReadyN, so no one ready net routes to every copy
  parameter int ReadyN     = 1,
`ifdef FI_ECP5
  parameter bit WRomLut    = 1'b1,   // weight_rom style: banked LUT ROM (ECP5 timing flow)
`else
  parameter bit WRomLut    = 1'b0,   // weight_rom style: one memory, block RAM by size
`endif
  parameter     WeightFile = "",
  parameter     ThreshFile = "",
  // XNOR, one step: the weight word (WeightFile's one word) also as a parameter, WValOn = 1 (the
  // writer passes it): each channel counts x over its +1 or its -1 lanes only, whichever are
  // fewer, a popcount sized at elaboration (XnSub below)
  parameter bit WValOn     = 1'b0,
  parameter logic [PE*SIMD-1:0] WVal = '0
) (
  input  logic                               clk_i,
  input  logic                               rst_ni,
  input  logic                               in_valid_i,
  output logic                               in_ready_o,
  input  logic [K*InBits-1:0]                in_data_i,
  output logic                               out_valid_o,
  input  logic [ReadyN-1:0]                  out_ready_i,
  output logic [M*(Scores ? 32 : OutBits)-1:0] out_data_o   // (ElemW = Scores ? 32 : OutBits)
);

  localparam int SF       = (K + SIMD - 1) / SIMD;
  localparam int NF       = (M + PE - 1) / PE;
  localparam int Steps    = SF * NF;
  localparam int InW      = SF * SIMD * InBits;   // padded input vector
  localparam int SliceW   = SIMD * InBits;
  // scores: (acc << ScSh) + B (32 bits) is stored from the score register to the output
  // register as a code of ScLoW + 2 bits, {sign of acc, carry, low ScLoW bits of the sum}: its
  // bits above ScLoW are B's plus carry - sign (B a constant per channel), so they are wires and
  // LUT2s of the two flag bits behind the output register (g_sc_exp), not 32 - ScLoW flops, skid
  // flops and skid muxes per element (the digits MLP's last layer, fully parallel: 320 muxes)
  localparam int ScSh     = BinIn ? 1 : 0;
  localparam int ScLoW    = AccW + ScSh;
  localparam bit ScCode   = Scores && (ScLoW + 2 < 32);
  localparam int ElemQ    = !Scores ? OutBits : ScCode ? ScLoW + 2 : 32;   // stored element
  localparam int LaneW    = Scores ? 32 : 1 + NThr * AccW;
  localparam int WordW    = PE * SIMD * WBits;
  localparam bit Xnor     = BinIn && (WBits == 1);
  // W-bit x integers: each product enters the tree as WBits shifted partial products (no
  // multiplier cell: Yosys maps a 2+-bit "*" to a DSP, a slow MULT18X18D on ECP5)
  localparam bit PpMul    = (WBits > 1) && !BinIn;
  // tree operands per channel: XNOR bits 3:2 compressed into 2-bit counts, WBits partial
  // products per lane, else one per lane
  localparam int TermN    = Xnor ? (SIMD + 2) / 3 : PpMul ? SIMD * WBits : SIMD;
  localparam int TermW    = Xnor ? 2 :
                            (WBits == 1) ? InBits + 1 :
                            BinIn ? WBits :
                            PpMul ? WBits + InBits : WBits + InBits + (InSigned ? 0 : 1);
  // tree operands are two's complement, except XNOR counts and the partial products of
  // unsigned inputs (all non-negative: an unsigned tree, no sign-extension bits)
  // XNOR triples: ones in the pad lanes (3*TermN - SIMD of them) above the SIMD real ones
  localparam logic [3*TermN-1:0] PadM = ~((3*TermN)'({SIMD{1'b1}}));
  localparam bit TreeSigned = !Xnor && !(PpMul && !InSigned);
  localparam int TreeLv   = $clog2(TermN);
  // partial products (PpMul): their pair sums (the first level) are registered and the tree
  // counts levels from there, so no cycle has the AND / NAND and two adder levels
  // the ECP5 flow's PairQ tree (below; = PairQ && WRomLut && TreeLv >= 5: pair mode is off
  // there above one step) registers every level from level 4 on: at 8-bit inputs levels 4
  // and 5 are 13- and 14-bit adders, and the two chained in one cycle (plus the routing to
  // the far node registers) were the digits MLP's critical path at target 16 (6.76 ns).
  // TreeLv - 2 tree registers (TreeLv / 2 without: one more cycle of latency at 5 or 6
  // levels, cycles per inference unchanged)
  localparam bit PairQTop = (WBits == 1) && !BinIn && WRomLut && (Steps >= 2) && (RegEvery == 2)
                            && (TreeLv >= 5);
  localparam int TreeRegs = PairQTop ? TreeLv - 2 :
                            (PpMul && TreeLv > 0) ? 1 + (TreeLv - 1) / RegEvery :
                                                    TreeLv / RegEvery;
  localparam int AddrW    = (Steps > 1) ? $clog2(Steps) : 1;
  // weight_rom read latency: 3 up to 1,024 words, +1 per further 16x (both styles)
  localparam int WLat     = (AddrW > 10) ? 3 + (AddrW - 7) / 4 : 3;
  localparam int PipeN    = WLat + 1 + TreeRegs;   // ROM read (s1, s1b, ...), s2, tree registers
  localparam int SfW      = (SF > 1) ? $clog2(SF) : 1;
  localparam int NfW      = (NF > 1) ? $clog2(NF) : 1;
  localparam int TreeW    = (TermW + TreeLv < AccW) ? TermW + TreeLv : AccW;
  // input slices from a shifting buffer (no SF:1 slice mux) when SF > ShiftSf
  localparam int ShiftSf  = 8;
  // products registered before the tree (XNOR counts), else the tree's sum (XNOR counts of
  // the step-constant mode below are not: the tree's first adder level absorbs their count
  // bits and carry selects; the ECP5 flow, WRomLut, has no step-constant mode: registered)
  localparam bit ProdReg  = Xnor && !((Steps >= 2) && (Steps <= 16) && !WRomLut);
  // accumulator start value (mod 2^AccW), undoing the partial products' offsets (g_wint):
  // unsigned inputs: each lane's top partial product is offset by (2^InBits - 1) << (WBits-1);
  // signed inputs: each lane's top partial product enters as ~p = -p - 1
  localparam longint LaneOff  = !PpMul ? 64'sd0 :
                                InSigned ? -64'sd1 :
                                (((64'sd1 <<< InBits) - 64'sd1) <<< (WBits - 1));
  localparam longint AccInitL = -(longint'(SF) * longint'(SIMD) * LaneOff);
  localparam logic [AccW-1:0] AccInit = AccInitL[AccW-1:0];
  // +-1 weights on integers with a weight ROM of at most 16 words: pair mode. Lanes (2i, 2i+1)
  // share P = x_a + x_b and D = x_a - x_b (one adder pair for all PE channels); a channel's
  // term is (w_a == w_b ? P : D) ^ {~w_a}, where the weights are constants of the step: each
  // term bit is one 6-input function of (P bit, D bit, 4 step bits), no weight ROM or register
  // (not in the ECP5 timing flow, WRomLut, above one step: its LUT4s do not hold the 6-input
  // step functions, and synth_ecp5 flattens the design and spends over 30 minutes on the
  // constant-word flops of memory_map at target 16; the ROM path has the same latency)
  localparam bit PmPair   = (WBits == 1) && !BinIn && (Steps <= 16) && (SIMD >= 2)
                            && !(WRomLut && (Steps >= 2));
  // +-1 weights on integers through the weight ROM (not PmPair), RegEvery 2: the pair sums
  // (level 1) are registered and the tree registers every second level from there, so no cycle
  // has w_r's product LUT and two adder levels (the digits MLP's critical path at target 64 on
  // ECP5, 6.6 ns); the root is then a register itself for odd TreeLv (no sum_q): TreeRegs + 1
  // registers from the products to sum_r as before, the same latency
  localparam bit PairQ    = (WBits == 1) && !BinIn && !PmPair && (RegEvery == 2) && (TreeLv >= 2);
  localparam int PairHN   = (SIMD + 1) / 2;
  localparam int PairW0   = InBits + 2;
  localparam int PairHW   = (PairW0 < AccW) ? PairW0 : AccW;
  // XNOR with a weight ROM of 2..16 words: the weights are constants of the step here too. A
  // triple's count bit is the shared parity of its three inputs XOR a step constant; its carry
  // is the majority of x ^ c(step), split on the top step bit into two 6-input functions
  localparam bit XnStep   = Xnor && (Steps >= 2) && (Steps <= 16) && !WRomLut;
  localparam bit WStep    = PmPair || XnStep;
  // one step (SF = NF = 1, fully parallel): the weights are constants read in this module (no
  // weight_rom: hierarchical synthesis would not fold its constant word into the logic here)
  localparam bit WConst   = (Steps == 1);
  // XNOR with constant weights: the 3:2 counts of the input triples are shared by all PE
  // channels. Per triple the majority of x ^ c for each of the 8 inversion patterns c and the
  // parity of x in both polarities are registered once (the unused ones are removed); a
  // channel's 2-bit count is {maj(x ^ c), parity(x) ^ parity(c)} with c = ~w, plain wiring
  localparam bit XnConst  = Xnor && WConst;
  // XNOR, one step, weights known at elaboration (WValOn): with T = popcount(x) over the KR real
  // lanes (one shared popcount, g_xt), n1 / n0 a channel's +1 / -1 lanes and P1 / P0 the ones of
  // x on them, S = P1 + (n0 - P0) = n0 + 2*P1 - T = n0 + T - 2*P0: a channel counts x on the
  // fewer of its two lane sets only (at most KR / 2 bits, picked by constant indices: wiring),
  // mvau_xnsub; its accumulator holds S - n0 and n0 (a constant, n0v) is folded into its
  // thresholds or score bias (t_x). Against the shared 3:2 counts of every inversion pattern and
  // a popcount of all KR XNOR bits per channel: about half the bits per channel (digits MLP
  // layer 6, fully parallel: 3,082 -> 2,080 LUT). Same latency: the popcounts have the 3:2
  // count register's cycle too (TreeRegs + 1 registers from x_r)
  localparam bit XnSub    = XnConst && WValOn;
  localparam int KR       = (K < SIMD) ? K : SIMD;   // real lanes (one step: K)
  localparam int PopW     = $clog2(KR + 1);

  // majority of three bits (the carry of a 3:2 count), as a truth table: no constant bit
  // selects, which Icarus cannot take in an always_comb's sensitivity
  localparam logic [7:0] Maj3 = 8'b1110_1000;
  function automatic logic maj3(input logic [2:0] v);
    maj3 = Maj3[v];
  endfunction

  // ---------------------------------------------------------------- memories
  // ROMs: only initialized from the files (undriven when no file is given); the synthesis
  // tool picks LUT ROM or block RAM by size (weights below)
  /* verilator lint_off UNDRIVEN */
  logic [PE*LaneW-1:0] t_rom [NF];
  /* verilator lint_on UNDRIVEN */
  if (ThreshFile != "") begin : g_t_init
    initial $readmemh(ThreshFile, t_rom, 0, NF - 1);
  end

  logic en;

  // ------------------------------------------------- input double buffer
  logic [InW-1:0] in_pad;
  logic [InW-1:0] buf0_q, buf1_q;
  logic [1:0]     full_q, full_d;
  logic           wr_ptr_q, rd_ptr_q;
  logic           in_hs;
  logic           wr_ptr_d;
  logic [1:0]     tk_q, tk_d, rb_q, rb_d;   // buffer b takes the next beat / is freed (below)
  logic           rel_q, rel_d;             // the current step ends its vector when it fires

  // pad lanes: bits 1 (XNOR with the pad weight 0 gives 0), integers 0
  if (InW > K * InBits) begin : g_pad
    assign in_pad = {{(InW - K*InBits){BinIn}}, in_data_i};
  end else begin : g_nopad
    assign in_pad = in_data_i;
  end

  // Timing: in_ready_o is a flop (in_rdy_q = ~full_q[wr_ptr_q], computed a cycle ahead), and a
  // buffer takes in_pad in every cycle it is free (a free buffer's contents are unused, so it
  // keeps the beat of the handshake cycle and holds it once full), so each buffer's write
  // enable is its free flag, a flop with one copy per CopyW buffer bits (keep: the copies have
  // the same D and must stay separate flops) instead of one in_hs net to all InW flops.
  localparam int CopyW    = 32;
  localparam int InCopies = (InW + CopyW - 1) / CopyW;
  logic           in_rdy_q;

  // ------------------------------------------------- pipeline enable copies
  // en = ~stall enables every pipeline register; the stall flop (stall_d registered) is kept
  // in 4 + PE + XCopies copies (keep: same D, separate flops) so that no enable net drives
  // more than a few hundred flops: en (step control, thresholds, activation, output buffer),
  // en_w (weight_rom), en_p[p] (channel p's products, tree and accumulator), en_x[c] (the
  // slice delay line, CopyW bits per copy), en_b (the input buffers' flags alone: step-done),
  // en_s (the stall's own next value alone: load).
  // Timing: each copy computes its own next value (stall_dc[c], one LUT next to the copy)
  // from its own copy of the small output-control state the stall follows (ld_q, done_q /
  // skid_q, out_valid_q; keep: same D; copy en_s: the flops themselves) and its own stall
  // value, so the loop of every copy is local and only out_ready_i and the output stage's
  // ld_d route to all copies (one net to every copy: target 16, layer 0, 28 copies, 5-6 ns of
  // routing after a LUT). Every copy computes the same value each cycle.
  localparam int XCopies = (SliceW + CopyW - 1) / CopyW;
  localparam int EnN     = 4 + PE + XCopies;
  logic [EnN-1:0]     en_c;
  logic               en_w, en_b, en_s;
  logic [PE-1:0]      en_p;
  logic [XCopies-1:0] en_x;
  logic [EnN-1:0]     stall_dc;   // each copy's next stall (all equal)
  for (genvar c = 0; c < EnN; c++) begin : g_en
    (* keep *) logic st_q;   // this copy of the stall flop
    (* keep *) always_ff @(posedge clk_i) begin
      if (!rst_ni) begin
        st_q <= 1'b0;
      end else begin
        st_q <= stall_dc[c];
      end
    end
    assign en_c[c] = ~st_q;
  end
  // the copy of out_ready_i that stall copy c reads (copies in contiguous groups; ReadyN <=
  // EnN), and rdy_m, the one the output stage reads (the main stall copy's, c = EnN - 2)
  logic [EnN-1:0] rdy_c;
  logic           rdy_m;
  for (genvar c = 0; c < EnN; c++) begin : g_rdy
    assign rdy_c[c] = out_ready_i[c * ReadyN / EnN];
  end
  assign rdy_m = rdy_c[EnN-2];

  assign en   = en_c[0];
  assign en_w = en_c[1];
  assign en_p = en_c[2 +: PE];
  assign en_x = en_c[2 + PE +: XCopies];
  assign en_b = en_c[EnN-1];
  assign en_s = en_c[EnN-2];

  assign in_ready_o = in_rdy_q;
  assign in_hs      = in_valid_i & in_rdy_q;

  for (genvar c = 0; c < InCopies; c++) begin : g_buf
    localparam int Lo = c * CopyW;
    localparam int Wc = (InW - Lo < CopyW) ? InW - Lo : CopyW;
    // this group's copies of ~full_q[0], ~full_q[1], each computing its next value as full_d
    // (g_full) does, from itself instead of full_q: its own LUT next to it (no full_d net
    // from the centre to every copy; distinct inputs, so synthesis keeps the LUTs apart)
    (* keep *) logic free0_q, free1_q;
    logic free0_d, free1_d;
    assign free0_d = ~((~free0_q | (in_valid_i & tk_q[0])) & ~(rb_q[0] & en_b));
    assign free1_d = ~((~free1_q | (in_valid_i & tk_q[1])) & ~(rb_q[1] & en_b));
    (* keep *) always_ff @(posedge clk_i) begin
      if (!rst_ni) begin
        free0_q <= 1'b1;
        free1_q <= 1'b1;
      end else begin
        free0_q <= free0_d;
        free1_q <= free1_d;
      end
    end
    always_ff @(posedge clk_i) begin
      if (free0_q) buf0_q[Lo +: Wc] <= in_pad[Lo +: Wc];
      if (free1_q) buf1_q[Lo +: Wc] <= in_pad[Lo +: Wc];
    end
  end

  // ------------------------------------------------- stage 0: step counters
  logic [SfW-1:0]    sf_q, sf_d;
  logic              rd_ptr_d;
  logic              at0_q;     // sf_q == 0, registered
  logic [NfW-1:0]    nf_q;
  logic [AddrW-1:0]  addr_q, addr_d;
  logic              s0_valid, s0_fire, s0_first, s0_last_sf, s0_last_nf, s0_done;
  logic [InW-1:0]    s0_vec;
  logic [SliceW-1:0] s0_slice;

  // s0_valid is full_q[rd_ptr_q] kept as its own flop (timing: s0_fire enables the step
  // counters, addr_q and the slice shift register, so no pointer mux before it); s0_fv_q is a
  // second copy of it that alone drives s0_fire's fan-out, so the buffer-pointer loop
  // (s0_done -> full_d -> s0_valid_q) stays short (kept: Yosys would merge two flops with the
  // same D)
  (* keep *) logic   s0_valid_q;
  (* keep *) logic   s0_fv_q;
  // sf_q == SF - 1 and nf_q == NF - 1 as flops, updated with the counters (no compare on the
  // step-done path into full_d and the buffer flags)
  logic              last_sf_q, last_nf_q;
  assign s0_valid   = s0_valid_q;
  assign s0_fire    = s0_fv_q & en;
  assign s0_first   = at0_q;
  assign s0_last_sf = last_sf_q;
  assign s0_last_nf = last_nf_q;
  assign s0_done    = rel_q & en_b;   // = s0_valid & en & s0_last_sf & s0_last_nf
  assign s0_vec     = rd_ptr_q ? buf1_q : buf0_q;

  // the slice of step sf_q: an SF:1 mux for shallow folds; for deep ones a shift register
  // holding the slices after the current one (loaded from the buffer at each fold's step 0),
  // so x_q sees one 2:1 choice (buffer or shift register) after the buffer select
  if (SF > ShiftSf) begin : g_shift
    logic [InW-SliceW-1:0] rest_q;
    always_ff @(posedge clk_i) begin
      if (s0_fire) begin
        rest_q <= s0_first ? s0_vec[InW-1:SliceW] : (rest_q >> SliceW);
      end
    end
    assign s0_slice = s0_first ? s0_vec[SliceW-1:0] : rest_q[SliceW-1:0];
  end else begin : g_mux
    // the buffer pointer and step counter that select the slice, in one copy per CopyW slice
    // bits (keep: same D as rd_ptr_q / sf_q, separate flops), so no select net drives more
    // than CopyW mux LUTs
    localparam int SelCopies = (SliceW + CopyW - 1) / CopyW;
    logic          unused_vec;
    assign unused_vec = ^s0_vec;
    for (genvar c = 0; c < SelCopies; c++) begin : g_sel
      localparam int Lo = c * CopyW;
      localparam int Wc = (SliceW - Lo < CopyW) ? SliceW - Lo : CopyW;
      (* keep *) logic           rp_q;    // copy of rd_ptr_q
      (* keep *) logic [SfW-1:0] sfc_q;   // copy of sf_q
      (* keep *) always_ff @(posedge clk_i) begin
        if (!rst_ni) begin
          rp_q  <= 1'b0;
          sfc_q <= '0;
        end else begin
          rp_q  <= rd_ptr_d;
          sfc_q <= sf_d;
        end
      end
      if (SF > 1) begin : g_sf
        assign s0_slice[Lo +: Wc] = rp_q ? buf1_q[sfc_q * SliceW + Lo +: Wc]
                                         : buf0_q[sfc_q * SliceW + Lo +: Wc];
      end else begin : g_sf1
        logic unused_sfc;
        assign unused_sfc = ^sfc_q;
        assign s0_slice[Lo +: Wc] = rp_q ? buf1_q[Lo +: Wc] : buf0_q[Lo +: Wc];
      end
    end
  end

  // the ROM address of the next step (weight_rom registers copies of addr_q, flop to flop)
  assign addr_d = (s0_last_sf && s0_last_nf) ? '0 : addr_q + 1'b1;

  assign rd_ptr_d = rd_ptr_q ^ s0_done;
  assign sf_d     = !s0_fire ? sf_q : s0_last_sf ? '0 : sf_q + 1'b1;

  // Timing: the buffers' next full flags (the D of every free-flag copy) are one 5-input
  // function each: flags a cycle ahead say which buffer a beat goes to (tk_q[b] = in_rdy_q &
  // wr_ptr_q == b) and which one the current step frees if it fires (rb_q[b] = rel_q &
  // rd_ptr_q == b; rel_q = s0_valid & last step, its next value from pen_q = "the step before
  // the last", so no counter compare is on this path)
  for (genvar b = 0; b < 2; b++) begin : g_full
    assign full_d[b] = (full_q[b] | (in_valid_i & tk_q[b])) & ~(rb_q[b] & en_b);
  end
  assign wr_ptr_d = wr_ptr_q ^ in_hs;
  assign tk_d     = {~full_d[1] & wr_ptr_d, ~full_d[0] & ~wr_ptr_d};
  assign rb_d     = {rel_d & rd_ptr_d, rel_d & ~rd_ptr_d};
  if (Steps > 1) begin : g_rel
    logic pen_q;   // the current step is step Steps - 2
    // stalled: unchanged; else the next step is the last iff this one is the one before
    // (a vector's last step is followed by step 0, not the last: pen_q = 0 there)
    assign rel_d = en_b ? (s0_valid_q & pen_q) : rel_q;
    always_ff @(posedge clk_i) begin
      if (!rst_ni) begin
        rel_q <= 1'b0;
        pen_q <= (Steps == 2);
      end else begin
        rel_q <= rel_d;
        if (s0_fire) pen_q <= (Steps == 2) ? (s0_last_sf & s0_last_nf)
                                            : (addr_q == AddrW'(Steps - 3));
      end
    end
  end else begin : g_rel1
    // one step per vector: every valid step is the last
    assign rel_d = full_d[rd_ptr_d];
    assign rel_q = s0_valid_q;
  end

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      full_q   <= '0;
      in_rdy_q <= 1'b1;
      tk_q     <= 2'b01;
      rb_q     <= 2'b00;
      last_sf_q <= (SF == 1);
      last_nf_q <= (NF == 1);
      wr_ptr_q <= 1'b0;
      rd_ptr_q <= 1'b0;
      sf_q     <= '0;
      at0_q    <= 1'b1;
      nf_q     <= '0;
      addr_q   <= '0;
    end else begin
      full_q <= full_d;
      in_rdy_q <= ~full_d[wr_ptr_d];
      tk_q     <= tk_d;
      rb_q     <= rb_d;
      wr_ptr_q <= wr_ptr_d;
      rd_ptr_q <= rd_ptr_d;
      sf_q     <= sf_d;
      if (s0_fire) begin
        // SF = 1 (NF = 1): the flags' D is the constant 1 of their reset, so synthesis folds
        // them to constants (every step first and last: the accumulator's feedback and adder
        // fold away); "last ? 1 : ..." alone would keep them as flops
        at0_q  <= (SF == 1) || s0_last_sf;
        nf_q   <= s0_last_sf ? (s0_last_nf ? '0 : nf_q + 1'b1) : nf_q;
        last_sf_q <= (SF == 1) || (!s0_last_sf && sf_q == SfW'(SF - 2));
        if (s0_last_sf) last_nf_q <= (NF == 1) || (!s0_last_nf && nf_q == NfW'(NF - 2));
        addr_q <= addr_d;
      end
    end
  end

  // both copies in one kept process: Yosys opt_merge merges two flops unless both are kept
  (* keep *) always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      s0_valid_q <= 1'b0;
      s0_fv_q    <= 1'b0;
    end else begin
      s0_valid_q <= full_d[rd_ptr_q ^ s0_done];
      s0_fv_q    <= full_d[rd_ptr_q ^ s0_done];
    end
  end

  // ------------------------------------------------- step flags through s1 .. tree output
  logic [PipeN-1:0] v_q, first_q, last_q, final_q;

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      v_q <= '0;
    end else if (en) begin
      v_q <= {v_q[PipeN-2:0], s0_valid};
    end
  end

  always_ff @(posedge clk_i) begin
    if (en) begin
      first_q <= {first_q[PipeN-2:0], s0_first};
      last_q  <= {last_q[PipeN-2:0], s0_last_sf};
      final_q <= {final_q[PipeN-2:0], s0_last_sf & s0_last_nf};
    end
  end

  // ------------------------------------------------- stage 1 .. WLat: slice and weight word
  // weight_rom: the word of addr_q arrives in w_r WLat cycles later; the slice is delayed by
  // as many registers (x_d, then x_r)
  logic [WordW-1:0]  w_r;
  logic [(WLat-1)*SliceW-1:0] x_d;   // x_d[i*SliceW +: SliceW]: the slice delayed i + 1 cycles

  for (genvar c = 0; c < XCopies; c++) begin : g_xd
    localparam int Lo = c * CopyW;
    localparam int Wc = (SliceW - Lo < CopyW) ? SliceW - Lo : CopyW;
    always_ff @(posedge clk_i) begin
      if (en_x[c]) x_d[Lo +: Wc] <= s0_slice[Lo +: Wc];
    end
    for (genvar i = 1; i < WLat - 1; i++) begin : g_st
      always_ff @(posedge clk_i) begin
        if (en_x[c]) x_d[i*SliceW + Lo +: Wc] <= x_d[(i-1)*SliceW + Lo +: Wc];
      end
    end
  end

  // the last delay stage (x_r, the slice the products see) in one copy per XPeG channels
  // (keep: same D, separate flops), enabled with the group's first channel: one shared
  // register fed every channel's products and its routing set the CNN's first conv Fmax
  // (x_d -> popcount / adder tree, 5 ns of routing to 16 channels)
  localparam int XPeG = 4;
  // (XNOR with constant weights: the 3:2 counts are shared by every channel, one copy; pair
  // mode with constant weights reads the shared P/D registers, not x_r: one copy, which
  // synthesis removes with the delay line, unread; the kept group copies stayed, 17,408 FF
  // in the fully parallel digits MLP)
  localparam int XGrp = (XnConst || (PmPair && WConst)) ? 1 : (PE + XPeG - 1) / XPeG;
  logic [XGrp*SliceW-1:0] x_r;   // group g's slice at [g*SliceW +: SliceW]
  if (PmPair) begin : g_xr0
    // pair mode reads the s0 slice into its own P/D registers (g_pd), not the delay line: no
    // x_r (kept copies of it would keep x_d and their own flops alive for nothing)
    assign x_r = '0;
    logic unused_xd;
    assign unused_xd = ^{x_d, x_r};
  end else if (XGrp > 1) begin : g_xrc
    for (genvar g = 0; g < XGrp; g++) begin : g_xr
      (* keep *) logic [SliceW-1:0] xg_q;
      (* keep *) always_ff @(posedge clk_i) begin
        if (en_p[g*XPeG]) xg_q <= x_d[(WLat-2)*SliceW +: SliceW];
      end
      assign x_r[g*SliceW +: SliceW] = xg_q;
    end
  end else begin : g_xr1
    // up to XPeG channels: one register, enabled like the rest of the delay line
    for (genvar c = 0; c < XCopies; c++) begin : g_c
      localparam int Lo = c * CopyW;
      localparam int Wc = (SliceW - Lo < CopyW) ? SliceW - Lo : CopyW;
      always_ff @(posedge clk_i) begin
        if (en_x[c]) x_r[Lo +: Wc] <= x_d[(WLat-2)*SliceW + Lo +: Wc];
      end
    end
  end

  if (WStep && !WConst) begin : g_w_none
    // the step-constant modes read their own copy of the weights (g_pp); no weight_rom (its
    // unused output would not remove it: synthesis keeps the hierarchy)
    assign w_r = '0;
    logic unused_wr;   // (pair mode does not read it; XnStep lists it in g_xpar too)
    assign unused_wr = ^w_r;
  end else if (!WConst) begin : g_w_rom
    weight_rom #(.Words(Steps), .Width(WordW), .AddrW(AddrW), .Lut(WRomLut), .Latency(WLat),
                 .File(WeightFile)) u_w_rom (
      .clk_i     (clk_i),
      .rst_ni    (rst_ni),
      .en_i      (en_w),
      .addr_i    (addr_q),
      .data_o    (w_r)
    );
  end else begin : g_w_const
    // one word: a constant, re-registered every cycle (a register of a constant folds away
    // in synthesis; Icarus does not re-evaluate a continuous read of a word that $readmemh
    // fills, so a plain assign stayed X there)
    /* verilator lint_off UNDRIVEN */
    logic [WordW-1:0] w1_rom [1];
    /* verilator lint_on UNDRIVEN */
    if (WeightFile != "") begin : g_init
      initial $readmemh(WeightFile, w1_rom, 0, 0);
    end
    logic [WordW-1:0] w1_q;
    always_ff @(posedge clk_i) begin
      w1_q <= w1_rom[0];
    end
    assign w_r = w1_q;
    logic unused_addr;
    assign unused_addr = ^{addr_q, en_w};
  end

  // ------------------------------------------------- XNOR, constant weights: shared 3:2 counts
  logic [TermN*8-1:0] xc_maj_q;   // triple g, pattern c: majority of x ^ c at [g*8 + c]
  logic [TermN*2-1:0] xc_par_q;   // triple g: {~parity(x), parity(x)} at [g*2 +: 2]
  if (XnConst && !XnSub) begin : g_xc
    // one process over all triples (see g_pe); pad lanes count 0 (their c is 0, see g_xnor)
    logic [3*TermN-1:0] x3s;
    logic [TermN*8-1:0] mj;
    logic [TermN*2-1:0] par;
    assign x3s = (3*TermN)'(x_r[SIMD-1:0]);
    always_comb begin : p_maj
      logic [2:0]         x3;
      logic [TermN*8-1:0] mv;
      logic [TermN*2-1:0] pv;
      for (int g = 0; g < TermN; g++) begin
        x3 = x3s[3*g +: 3];
        for (int c = 0; c < 8; c++) mv[g*8 + c] = maj3(x3 ^ 3'(c));
        pv[g*2 +: 2] = {~(^x3), ^x3};
      end
      mj  = mv;
      par = pv;
    end
    // registered in groups of triples by the enable copy of their first lane
    for (genvar c = 0; c < XCopies; c++) begin : g_r
      localparam int G0 = (c * CopyW + 2) / 3;
      localparam int G1 = ((c + 1) * CopyW + 2) / 3 < TermN ? ((c + 1) * CopyW + 2) / 3 : TermN;
      if (G1 > G0) begin : g_q
        always_ff @(posedge clk_i) begin
          if (en_x[c]) begin
            xc_maj_q[G0*8 +: (G1 - G0)*8] <= mj[G0*8 +: (G1 - G0)*8];
            xc_par_q[G0*2 +: (G1 - G0)*2] <= par[G0*2 +: (G1 - G0)*2];
          end
        end
      end
    end
  end else begin : g_no_xc
    assign xc_maj_q = '0;
    assign xc_par_q = '0;
    logic unused_xc;
    assign unused_xc = ^{xc_maj_q, xc_par_q};
  end

  // ------------------------------------------------- pair mode: shared sums, step addresses
  // P/D of the slice (registered in place of x_r), the step address per channel at s1b (one
  // copy per PE: each drives the weight functions of that channel only) and at the tree output
  // (the constant correction, see acc_d)
  logic [PE*SIMD-1:0]      pp_w;        // per channel p the weights of its current step
  logic [PE*SIMD-1:0]      pp_w_end;    // the same at the tree output
  logic [PairHN*PairHW-1:0] pp_sum_q, pp_dif_q;
  logic [PE*SIMD-1:0]      pp_w_lo, pp_w_hi;  // XnStep, 16 steps: weights at {0/1, step[2:0]}
  logic [PE*SIMD-1:0]      pp_top;      // XnStep: step address top bit (per lane's copy)
  logic [TermN-1:0]        xn_par_q;    // XnStep: parity of each triple's inputs (at s1b)

  if (WStep) begin : g_pp
    /* verilator lint_off UNDRIVEN */
    // read combinationally at address registers whose bit 0 alone has a reset: Yosys'
    // memory_dff cannot merge such a register into the read port (it would move it behind
    // the ROM: a ROM LUT and a flop per weight bit and port), so each weight bit stays logic
    // of the address and merges into the LUT that uses it (mem2reg did the same but made the
    // front end take hours on a 16 x 2048 ROM)
    /* verilator lint_off UNUSEDSIGNAL */
    logic [WordW-1:0] pw_rom [Steps];   // (one step: unused, the constant w_r instead)
    /* verilator lint_on UNUSEDSIGNAL */
    /* verilator lint_on UNDRIVEN */
    if (WeightFile != "") begin : g_w_init
      initial $readmemh(WeightFile, pw_rom, 0, Steps - 1);
    end
    // the step address in line with weight_rom's read: a1_q at s1, a_w WLat - 2 registers
    // later, so that pa_q (per channel) and ad_q[0] hold the address of the step whose slice is
    // in x_r (WLat cycles after s0, as the ROM path's w_r); ad_q then runs to the tree output
    logic [AddrW-1:0]               a1_q, a_w;
    logic [(TreeRegs+1)*AddrW-1:0]  ad_q;     // ad_q[k]: the address k cycles after x_r
    logic [WordW-1:0]               w_end;
    always_ff @(posedge clk_i) begin
      if (en_w) a1_q <= addr_q;
    end
    delay_line #(.Width(AddrW), .Depth(WLat - 2)) u_a_dly (
      .clk_i, .rst_ni, .en_i(en_w), .d_i(a1_q), .q_o(a_w)
    );
    if (TreeRegs > 0) begin : g_ad_more
      always_ff @(posedge clk_i) begin
        if (en_w) ad_q <= {ad_q[TreeRegs*AddrW-1:0], a_w};
      end
    end else begin : g_ad_one
      always_ff @(posedge clk_i) begin
        if (en_w) ad_q <= a_w;
      end
    end
    if (PmPair) begin : g_pd
      // P = x_a + x_b and D = x_a - x_b of every pair in one process (see g_pe), from the s0
      // slice (the buffer select folds into the adders' LUTs; a pad lane 2i+1 is 0)
      logic [2*PairHN*InBits-1:0] xsl;
      logic [PairHN*PairHW-1:0]   psa, pda;
      assign xsl = (2*PairHN*InBits)'(s0_slice);
      always_comb begin : p_pd
        logic [InBits-1:0]        xa, xb;
        logic [PairW0-1:0]        ea, eb;
        logic [PairHN*PairHW-1:0] sv, dv;
        for (int i = 0; i < PairHN; i++) begin
          xa = xsl[2*i*InBits +: InBits];
          xb = xsl[(2*i + 1)*InBits +: InBits];
          ea = InSigned ? PairW0'($signed(xa)) : PairW0'(xa);
          eb = InSigned ? PairW0'($signed(xb)) : PairW0'(xb);
          sv[i*PairHW +: PairHW] = PairHW'(ea + eb);
          dv[i*PairHW +: PairHW] = PairHW'(ea - eb);
        end
        psa = sv;
        pda = dv;
      end
      // registered at s1, then WLat - 2 more registers and the last one (pp_sum_q, pp_dif_q):
      // in line with x_r; pair i with the enable copy of lane 2i's slice bits, so in groups of
      // the pairs that start in one CopyW slice copy
      for (genvar c = 0; c < XCopies; c++) begin : g_grp
        localparam int I0 = (c * CopyW + 2 * InBits - 1) / (2 * InBits);
        localparam int I1r = ((c + 1) * CopyW + 2 * InBits - 1) / (2 * InBits);
        localparam int I1 = (I1r < PairHN) ? I1r : PairHN;
        localparam int GW = (I1 - I0) * PairHW;
        if (I1 > I0) begin : g_q
          logic [2*GW-1:0] pds_q, pds_w;   // {D, P} of the group's pairs
          always_ff @(posedge clk_i) begin
            if (en_x[c]) pds_q <= {pda[I0*PairHW +: GW], psa[I0*PairHW +: GW]};
          end
          delay_line #(.Width(2 * GW), .Depth(WLat - 2)) u_pd_dly (
            .clk_i, .rst_ni, .en_i(en_x[c]), .d_i(pds_q), .q_o(pds_w)
          );
          always_ff @(posedge clk_i) begin
            if (en_x[c]) begin
              pp_sum_q[I0*PairHW +: GW] <= pds_w[GW-1:0];
              pp_dif_q[I0*PairHW +: GW] <= pds_w[2*GW-1:GW];
            end
          end
        end
      end
    end
    // one copy of the step address per GrpL lanes of a channel (fanout: the weight functions
    // of 9 pairs or 6 triples); keep on the process: Yosys would merge equal registers
    localparam int GrpL = 18;
    localparam int GrpN = (SIMD + GrpL - 1) / GrpL;
    for (genvar p = 0; p < PE; p++) begin : g_pa
      if (WConst) begin : g_c
        // one step: the constant word (no address register, no LUT of the address)
        assign pp_w[p*SIMD +: SIMD]    = w_r[p*SIMD +: SIMD];
        assign pp_w_lo[p*SIMD +: SIMD] = '0;
        assign pp_w_hi[p*SIMD +: SIMD] = '0;
        assign pp_top[p*SIMD +: SIMD]  = '0;
      end else begin : g_a
        logic [GrpN*AddrW-1:0] pa_q;   // group gi's copy of the step address
        for (genvar gi = 0; gi < GrpN; gi++) begin : g_grp
          (* keep *) always_ff @(posedge clk_i) begin
            if (!rst_ni) begin
              pa_q[gi*AddrW] <= 1'b0;
            end else if (en_p[p]) begin
              pa_q[gi*AddrW] <= a_w[0];
            end
          end
          if (AddrW > 1) begin : g_hi
            (* keep *) always_ff @(posedge clk_i) begin
              if (en_p[p]) pa_q[gi*AddrW + 1 +: AddrW - 1] <= a_w[AddrW-1:1];
            end
          end
        end
        // each group's lanes of the word at its address copy (XnStep, 16 steps: also at
        // {0/1, step[2:0]}, and the top address bit), one process per channel (see g_xn_step)
        logic [GrpN*GrpL-1:0] w_g, lo_g, hi_g, top_g;
        always_comb begin : p_w
          logic [AddrW-1:0] a;
          logic [GrpN*GrpL-1:0] wv, lov, hiv, topv;   // (built here, written once: see g_pe)
          for (int gi = 0; gi < GrpN; gi++) begin
            a = pa_q[gi*AddrW +: AddrW];
            wv[gi*GrpL +: GrpL]   = GrpL'(pw_rom[a] >> (p*SIMD + gi*GrpL));
            lov[gi*GrpL +: GrpL]  = GrpL'(pw_rom[a & AddrW'(7)] >> (p*SIMD + gi*GrpL));
            hiv[gi*GrpL +: GrpL]  = GrpL'(pw_rom[a | AddrW'(8)] >> (p*SIMD + gi*GrpL));
            topv[gi*GrpL +: GrpL] = {GrpL{a >= AddrW'(1 << (AddrW - 1))}};
          end
          w_g   = wv;
          lo_g  = lov;
          hi_g  = hiv;
          top_g = topv;
        end
        assign pp_w[p*SIMD +: SIMD]   = w_g[SIMD-1:0];
        assign pp_top[p*SIMD +: SIMD] = top_g[SIMD-1:0];
        if (AddrW == 4) begin : g_split
          assign pp_w_lo[p*SIMD +: SIMD] = lo_g[SIMD-1:0];
          assign pp_w_hi[p*SIMD +: SIMD] = hi_g[SIMD-1:0];
        end else begin : g_nosplit
          assign pp_w_lo[p*SIMD +: SIMD] = '0;
          assign pp_w_hi[p*SIMD +: SIMD] = '0;
        end
        if (GrpN * GrpL > SIMD) begin : g_unused_pad
          logic unused_pad;
          assign unused_pad = ^{w_g[GrpN*GrpL-1:SIMD], top_g[GrpN*GrpL-1:SIMD],
                                lo_g[GrpN*GrpL-1:SIMD], hi_g[GrpN*GrpL-1:SIMD]};
        end
        if (AddrW != 4) begin : g_unused_split
          logic unused_split;
          assign unused_split = ^{lo_g, hi_g};
        end
      end
    end
    if (PmPair) begin : g_end
      logic [AddrW-1:0] ae_q;   // = ad_q's last stage delayed 1, bit 0 with a reset (see pw_rom)
      always_ff @(posedge clk_i) begin
        if (!rst_ni) begin
          ae_q[0] <= 1'b0;
        end else if (en_w) begin
          ae_q[0] <= ad_q[TreeRegs*AddrW];
        end
      end
      if (AddrW > 1) begin : g_hi
        always_ff @(posedge clk_i) begin
          if (en_w) ae_q[AddrW-1:1] <= ad_q[TreeRegs*AddrW + 1 +: AddrW - 1];
        end
      end
      if (WConst) begin : g_we0
        assign w_end = w_r;
        logic unused_ae;
        assign unused_ae = ^ae_q;
      end else begin : g_wea
        assign w_end = pw_rom[ae_q];
      end
      assign pp_w_end = w_end[PE*SIMD-1:0];
    end else begin : g_noend
      assign w_end    = '0;
      assign pp_w_end = '0;
      assign pp_sum_q = '0;
      assign pp_dif_q = '0;
      logic unused_end;
      assign unused_end = ^{w_end, ad_q};
    end
    if (XnStep) begin : g_xpar
      // one cycle before x_r; pad lanes 0 (one process over all triples, see g_xn_step)
      logic [3*TermN-1:0] xp;
      assign xp = (3*TermN)'(x_d[(WLat-2)*SliceW +: SIMD]);
      always_ff @(posedge clk_i) begin
        for (int g = 0; g < TermN; g++) begin
          if (en_x[(3 * g) / CopyW]) xn_par_q[g] <= ^xp[3*g +: 3];
        end
      end
      logic unused_xw;
      assign unused_xw = ^{w_r, pp_w_end, pp_sum_q, pp_dif_q};
    end else begin : g_noxpar
      assign xn_par_q = '0;
      logic unused_xn;
      assign unused_xn = ^{xn_par_q, pp_w_lo, pp_w_hi, pp_top};
    end
  end else begin : g_no_pp
    // (fully parallel units: these unused nets are PE * SIMD bits, more than Verilator's
    // replication limit for '0)
    /* verilator lint_off WIDTHCONCAT */
    assign pp_w_lo   = '0;
    assign pp_w_hi   = '0;
    assign pp_top    = '0;
    assign xn_par_q  = '0;
    assign pp_w      = '0;
    assign pp_w_end  = '0;
    assign pp_sum_q  = '0;
    assign pp_dif_q  = '0;
    /* verilator lint_on WIDTHCONCAT */
    logic unused_pp;
    assign unused_pp = ^{pp_w, pp_w_end, pp_sum_q, pp_dif_q, pp_w_lo, pp_w_hi, pp_top, xn_par_q};
  end

  // ------------------------------------------------- XNOR, weight parameter: T = popcount(x)
  logic [PopW-1:0] xt_sum;   // T, TreeRegs + 1 cycles after x_r
  if (XnSub) begin : g_xt
    mvau_popcount #(.N(KR), .OutW(PopW), .Regs(TreeRegs + 1), .Bits1(1'b1)) u_pop_t (
      .clk_i (clk_i),
      .en_i  (en_x[0]),
      .in_i  (x_r[KR-1:0]),
      .sum_o (xt_sum)
    );
    if (SIMD > KR) begin : g_unused_pad
      logic unused_xp;
      assign unused_xp = ^x_r[SIMD-1:KR];
    end
    logic unused_wr;   // (the weights are WVal)
    assign unused_wr = ^w_r;
  end else begin : g_no_xt
    assign xt_sum = '0;
    logic unused_xt;
    assign unused_xt = ^{xt_sum, WVal};
  end

  // ------------------------------------------------- stage 2 .. acc, per channel
  logic [PE*AccW-1:0] acc_fin;   // the accumulator including this step (valid at the last)
  // XnSub: each channel's n0 (a constant); its accumulator holds S - n0 = 2*P1 - T = T - 2*P0,
  // and n0 is folded into its thresholds or score bias instead (t_x): no adder of the constant
  // (7 LUT per channel)
  logic [PE*AccW-1:0] n0v;

  for (genvar p = 0; p < PE; p++) begin : g_pe
    logic [TermN*TermW-1:0] term, tree_in;
    logic [TreeW-1:0]       sum, sum_r;
    logic [AccW-1:0]        sum_x, acc_q, acc_d;
    logic [AccW-1:0]        xs_add, xs_sub;  // XnSub: the sum (S - n0) and correction (0)

    // (the term logic below is one process per channel over all triples, pairs or lanes, not a
    // continuous assign per triple: Icarus propagates a vector driven piece by piece to all its
    // readers on every piece's change, 10-20x slower simulation at SIMD 64-128; for the same
    // reason each process builds its output in a local variable and writes the net once:
    // every write of a part of a net re-checks the whole vector at each reader, 2-3x)
    if (XnStep) begin : g_xn_step
      // weights of the step (constants of the address): count bit = parity(x) ^ parity(~w),
      // carry = majority(x ^ ~w), for 16 steps chosen by the top address bit between the
      // majorities of the two halves (each a function of 3 inputs and 3 address bits); pad
      // lanes x = 0, c = 0
      // (~ after the size cast: a cast extends its operand first, so (n)'(~w) has ones in the
      // pad lanes)
      logic [3*TermN-1:0] xs, cs, cls, chs;
      assign xs  = (3*TermN)'(x_r[(p/XPeG)*SliceW +: SIMD]);
      assign cs  = ~((3*TermN)'(pp_w[p*SIMD +: SIMD]) | PadM);
      assign cls = ~((3*TermN)'(pp_w_lo[p*SIMD +: SIMD]) | PadM);
      assign chs = ~((3*TermN)'(pp_w_hi[p*SIMD +: SIMD]) | PadM);
      if (AddrW == 4) begin : g_split
        logic [3*TermN-1:0] tops;   // the top address bit (lane 3g's copy for triple g)
        assign tops = (3*TermN)'(pp_top[p*SIMD +: SIMD]);
        always_comb begin : p_cnt
          logic [TermN*2-1:0] tv;
          for (int g = 0; g < TermN; g++) begin
            tv[g*2 +: 2] = {tops[3*g] ? maj3(xs[3*g +: 3] ^ chs[3*g +: 3])
                                      : maj3(xs[3*g +: 3] ^ cls[3*g +: 3]),
                            xn_par_q[g] ^ (^cs[3*g +: 3])};
          end
          term = tv;
        end
      end else begin : g_direct
        always_comb begin : p_cnt
          logic [TermN*2-1:0] tv;
          for (int g = 0; g < TermN; g++) begin
            tv[g*2 +: 2] = {maj3(xs[3*g +: 3] ^ cs[3*g +: 3]), xn_par_q[g] ^ (^cs[3*g +: 3])};
          end
          term = tv;
        end
        logic unused_split;
        assign unused_split = ^{cls, chs, pp_top[p*SIMD +: SIMD]};
      end
    end else if (XnSub) begin : g_xn_sub
      // S - n0 from mvau_xnsub (one module per channel, see there); n0 into n0v
      localparam logic [SIMD-1:0] Wp = WVal[p*SIMD +: SIMD];
      mvau_xnsub #(.SIMD(SIMD), .KR(KR), .W(Wp), .PopW(PopW), .AccW(AccW), .Regs(TreeRegs + 1))
        u_sub (
        .clk_i (clk_i),
        .en_i  (en_p[p]),
        .x_i   (x_r[SIMD-1:0]),
        .t_i   (xt_sum),
        .s_o   (xs_add)
      );
      assign xs_sub   = '0;
      assign n0v[p*AccW +: AccW] = AccW'(KR - $countones(Wp[KR-1:0]));
      assign term     = '0;
    end else if (XnConst) begin : g_xn_const
      // constant weights: c = ~w per lane (0 for pad lanes), the shared registered counts;
      // all of the channel's triples selected in one mvau_xnsel, elaborated once for all
      // channels (the select inline here, a shift over all triples' counts per triple, cost
      // about a second of elaboration per channel; one instance per triple, 0.27 s)
      mvau_xnsel #(.N(TermN), .SIMD(SIMD)) u_sel (
        .maj_i (xc_maj_q),
        .par_i (xc_par_q),
        .w_i   (w_r[p*SIMD +: SIMD]),
        .cnt_o (term)
      );
    end else if (Xnor) begin : g_xnor
      // XNOR of input and weight bits, counted three lanes at a time (full adder logic:
      // each output bit is one 6-input function of the three x, w pairs); pad lanes x = 1,
      // w = 0: their XNOR is 0
      logic [3*TermN-1:0] m;
      assign m = ~(((3*TermN)'(x_r[(p/XPeG)*SliceW +: SIMD]) | PadM)
                   ^ (3*TermN)'(w_r[p*SIMD +: SIMD]));
      always_comb begin : p_cnt
        logic [TermN*2-1:0] tv;
        for (int g = 0; g < TermN; g++) begin
          tv[g*2 +: 2] = {maj3(m[3*g +: 3]), ^m[3*g +: 3]};
        end
        term = tv;
      end
    end else if (PmPair) begin : g_pm_none
      // pair mode: the pair terms (g_pp_one, g_pp_tree) replace the products; no process
      // here (unused, it was still elaborated: a loop over SIMD lanes of x_r and w_r per
      // channel, most of the one-step front end's time at PE 32-64)
      assign term = '0;
    end else begin : g_mul
      // one process per channel over all lanes (and partial products), see above; x_r and
      // w_r read directly (loop-variable indices)
      localparam int XB = (p/XPeG)*SliceW;   // this channel's slice in x_r
      localparam int WB = p*SIMD*WBits;      // its weights in w_r
      if (WBits == 1) begin : g_pm1
        // +x or ~x = -x - 1 (the -1 per negative weight is folded into the thresholds)
        always_comb begin : p_term
          logic [InBits-1:0]      xl;
          logic [TermN*TermW-1:0] tv;
          for (int s = 0; s < SIMD; s++) begin
            xl = x_r[XB + s*InBits +: InBits];
            tv[s*TermW +: TermW] = (InSigned ? TermW'($signed(xl)) : TermW'(xl))
                                   ^ {TermW{~w_r[WB + s]}};
          end
          term = tv;
        end
      end else if (BinIn) begin : g_wbin
        // x = +-1: S counts w where x = 1 (acc = 2S - sum w)
        always_comb begin : p_term
          logic [TermN*TermW-1:0] tv;
          for (int s = 0; s < SIMD; s++) begin
            tv[s*TermW +: TermW] = x_r[XB + s*InBits] ? w_r[WB + s*WBits +: WBits] : '0;
          end
          term = tv;
        end
      end else begin : g_wint
        // w * x as WBits partial products (lane s's at operands s*WBits .. s*WBits+WBits-1,
        // so the tree's first levels are this lane's multiplier): bit b of w selects x << b,
        // one AND / NAND per bit, absorbed by the first adder level. The sign bit's weight
        // is negative: -(w_top ? x : 0) << (WBits-1) enters as
        //   unsigned x: (w_top ? ~x : all ones) << (WBits-1), InBits bits, non-negative
        //               (= the product + (2^InBits - 1) << (WBits-1));
        //   signed x:   ~((w_top ? x : 0) << (WBits-1)) (= the product - 1);
        // AccInit undoes both offsets (a constant per lane and step).
        always_comb begin : p_term
          logic [InBits-1:0] xl, nx;
          logic [TermW-1:0]  xt, pp;
          logic              wb;
          logic [TermN*TermW-1:0] tv;
          for (int s = 0; s < SIMD; s++) begin
            xl = x_r[XB + s*InBits +: InBits];
            xt = InSigned ? TermW'($signed(xl)) : TermW'(xl);
            for (int b = 0; b < WBits; b++) begin
              wb = w_r[WB + s*WBits + b];
              if (b == WBits - 1 && !InSigned) begin
                nx = ~(xl & {InBits{wb}});   // (InBits wide before the cast, see g_xn_step)
                pp = TermW'(nx) << b;
              end else if (b == WBits - 1) begin
                pp = ~(wb ? (xt << b) : '0);
              end else begin
                pp = wb ? (xt << b) : '0;
              end
              tv[(s*WBits + b)*TermW +: TermW] = pp;
            end
          end
          term = tv;
        end
      end
    end

    // XNOR counts (6-input functions) and multipliers are registered before the tree; a
    // product that is one gate per bit (x or ~x, x ? w : 0) goes unregistered into the first
    // adder level, whose LUTs absorb it (a register between them costs a LUT and a flop per
    // product bit), and the tree's sum is registered instead: same latency either way
    if (XnConst) begin : g_term_shared
      // the counts come from the shared registers (g_xc)
      assign tree_in = term;
      assign sum_r   = sum;
    end else if (ProdReg) begin : g_term_q
      logic [TermN*TermW-1:0] term_q;
      always_ff @(posedge clk_i) begin
        if (en_p[p]) term_q <= term;
      end
      assign tree_in = term_q;
      assign sum_r   = sum;
    end else if (PairQ && (TreeLv % 2 == 1 || PairQTop)) begin : g_sum_tree
      // the tree's root is a register (PairQ, odd TreeLv or PairQTop): it is the sum register
      assign tree_in = term;
      assign sum_r   = sum;
    end else begin : g_sum_q
      logic [TreeW-1:0] sum_q;
      always_ff @(posedge clk_i) begin
        if (en_p[p]) sum_q <= sum;
      end
      assign tree_in = term;
      assign sum_r   = sum_q;
    end

    logic [AccW-1:0] pm_neg;   // one-step pair mode: the count of negative odd-lane weights
    if (PmPair && WConst) begin : g_pp_one
      // pair mode, one step: the weights are the constant word; all of the channel's pair terms
      // and its negative odd-lane weight count (the correction, see g_corr) in one mvau_pmsel,
      // elaborated once for all channels (the select inline in this loop, or one instance per
      // pair, made Yosys' elaboration superlinear in PE); then as g_pp_tree
      logic [PairHN*PairHW-1:0] pt, pt_t;
      mvau_pmsel #(.N(PairHN), .SIMD(SIMD), .W(PairHW), .CntW(AccW)) u_sel (
        .sum_i  (pp_sum_q),
        .dif_i  (pp_dif_q),
        .w_i    (pp_w[p*SIMD +: SIMD]),
        .term_o (pt),
        .neg_o  (pm_neg)
      );
      delay_line #(.Width(PairHN*PairHW), .Depth((RegEvery == 1) ? 1 : 0)) u_pt_dly (
        .clk_i, .rst_ni, .en_i(en_p[p]), .d_i(pt), .q_o(pt_t)
      );
      logic unused_term;
      assign unused_term = ^tree_in;
      mvau_tree #(.N(PairHN), .InW(PairHW), .OutW(AccW), .Signed(1'b1), .Levels(TreeLv - 1),
                  .RegEvery(RegEvery), .Lv0(1)) u_tree (
        .clk_i (clk_i),
        .en_i  (en_p[p]),
        .in_i  (pt_t),
        .sum_o (sum)
      );
    end else if (PmPair) begin : g_pp_tree
      // pair mode: the pair terms replace the products and the tree's first level (Lv0 = 1)
      logic [PairHN*PairHW-1:0] pt;
      logic [PairHN-1:0]        pe, pi;   // per pair: select P (w_a == w_b), invert (~w_a)
      logic [2*PairHN-1:0]      wl;   // (a pad lane's weight is unused: its pair's eq is 1)
      assign wl = (2*PairHN)'(pp_w[p*SIMD +: SIMD]);
      always_comb begin : p_pt
        logic [PairHN-1:0]        ev, iv;
        logic [PairHN*PairHW-1:0] pv;
        for (int i = 0; i < PairHN; i++) begin
          ev[i] = (2 * i + 1 < SIMD) ? ~(wl[2*i] ^ wl[2*i + 1]) : 1'b1;
          iv[i] = ~wl[2*i];
          pv[i*PairHW +: PairHW] = (ev[i] ? pp_sum_q[i*PairHW +: PairHW]
                                          : pp_dif_q[i*PairHW +: PairHW]) ^ {PairHW{iv[i]}};
        end
        pt = pv;
        pe = ev;
        pi = iv;
      end
      logic unused_term;
      assign unused_term = ^tree_in;
      if (TreeLv >= 2) begin : g_quad
        // the tree's second level (sums of pairs 2i, 2i+1, as mvau_tree's left-heavy split
        // would pair them) in mvau_pmquad: pair 2i's term is selected here, pair 2i+1's inside
        // the module, so that each quad adder bit is one LUT of pair 2i's term bit and pair
        // 2i+1's P, D and selects (see mvau_pmquad); the rest from level 3 (Lv0 = 2)
        localparam int QuadN = (PairHN + 1) / 2;
        localparam int QuadF = PairHN / 2;   // quads of two pairs (an odd last pair: alone)
        localparam int QuadW = (PairHW + 1 < AccW) ? PairHW + 1 : AccW;
        localparam int QInW  = QuadF * (3 * PairHW + 2);
        logic [QuadN*QuadW-1:0] qd, qd_t;
        logic [QInW-1:0]        qi, qi_t;   // {inv, eq, D, P of pairs 2i+1, terms of pairs 2i}
        always_comb begin : p_qi
          logic [QuadF*PairHW-1:0] ta, sb, db;
          logic [QuadF-1:0]        eb, ib;
          for (int i = 0; i < QuadF; i++) begin
            ta[i*PairHW +: PairHW] = pt[2*i*PairHW +: PairHW];
            sb[i*PairHW +: PairHW] = pp_sum_q[(2*i + 1)*PairHW +: PairHW];
            db[i*PairHW +: PairHW] = pp_dif_q[(2*i + 1)*PairHW +: PairHW];
            eb[i] = pe[2*i + 1];
            ib[i] = pi[2*i + 1];
          end
          qi = {ib, eb, db, sb, ta};
        end
        // registered when the tree registers every level (RegEvery 1), else a wire
        delay_line #(.Width(QInW), .Depth((RegEvery == 1) ? 1 : 0)) u_qi_dly (
          .clk_i, .rst_ni, .en_i(en_p[p]), .d_i(qi), .q_o(qi_t)
        );
        mvau_pmquad #(.N(QuadF), .W(PairHW), .QW(QuadW)) u_quad (
          .ta_i   (qi_t[0 +: QuadF*PairHW]),
          .sum_i  (qi_t[QuadF*PairHW +: QuadF*PairHW]),
          .dif_i  (qi_t[2*QuadF*PairHW +: QuadF*PairHW]),
          .eq_i   (qi_t[3*QuadF*PairHW +: QuadF]),
          .inv_i  (qi_t[3*QuadF*PairHW + QuadF +: QuadF]),
          .quad_o (qd[QuadF*QuadW-1:0])
        );
        if (QuadN > QuadF) begin : g_odd
          // an odd last pair is its quad alone (sign-extended)
          logic [PairHW-1:0] tl;
          delay_line #(.Width(PairHW), .Depth((RegEvery == 1) ? 1 : 0)) u_tl_dly (
            .clk_i, .rst_ni, .en_i(en_p[p]), .d_i(pt[QuadF*2*PairHW +: PairHW]), .q_o(tl)
          );
          assign qd[QuadF*QuadW +: QuadW] = QuadW'($signed(tl));
        end
        logic unused_pt;   // (pairs 2i+1: selected in u_quad from P, D, pe, pi)
        assign unused_pt = ^{pt, pe, pi};
        // registered where mvau_tree registers level 2 (RegEvery 1 or 2)
        delay_line #(.Width(QuadN*QuadW), .Depth((2 % RegEvery == 0) ? 1 : 0)) u_quad_dly (
          .clk_i, .rst_ni, .en_i(en_p[p]), .d_i(qd), .q_o(qd_t)
        );
        mvau_tree #(.N(QuadN), .InW(QuadW), .OutW(AccW), .Signed(1'b1), .Levels(TreeLv - 2),
                    .RegEvery(RegEvery), .Lv0(2)) u_tree (
          .clk_i (clk_i),
          .en_i  (en_p[p]),
          .in_i  (qd_t),
          .sum_o (sum)
        );
      end else begin : g_pair_tree
        logic [PairHN*PairHW-1:0] pt_t;
        // registered when the tree registers every level (RegEvery 1), else a wire
        delay_line #(.Width(PairHN*PairHW), .Depth((RegEvery == 1) ? 1 : 0)) u_pt_dly (
          .clk_i, .rst_ni, .en_i(en_p[p]), .d_i(pt), .q_o(pt_t)
        );
        logic unused_sel;
        assign unused_sel = ^{pe, pi};
        mvau_tree #(.N(PairHN), .InW(PairHW), .OutW(AccW), .Signed(1'b1), .Levels(TreeLv - 1),
                    .RegEvery(RegEvery), .Lv0(1)) u_tree (
          .clk_i (clk_i),
          .en_i  (en_p[p]),
          .in_i  (pt_t),
          .sum_o (sum)
        );
      end
    end else if (XnSub) begin : g_sub_tree
      // the counts are g_xn_sub's popcounts; no tree
      assign sum = '0;
      logic unused_sub;
      assign unused_sub = ^{tree_in, sum_r};
    end else if (!ProdReg && TreeLv > 0) begin : g_pairs
      // the tree's first level here, in the products' module, so that each adder LUT absorbs
      // its one-gate products (Yosys keeps the hierarchy): pairs (2i, 2i+1) as mvau_tree's
      // left-heavy split pairs them, sign-extended to PairW (XNOR counts: zero-extended); the
      // rest from level 2 (Lv0 = 1)
      localparam int PairN = (TermN + 1) / 2;
      localparam int PairW = (TermW + 1 < AccW) ? TermW + 1 : AccW;
      logic [PairN*PairW-1:0]   pairs, pairs_t;
      logic [2*PairN*TermW-1:0] tin;   // the terms, a zero term after an odd last one
      assign tin = (2*PairN*TermW)'(tree_in);
      always_comb begin : p_pairs
        logic [TermW-1:0] ta, tb;
        logic [PairN*PairW-1:0] pv;
        for (int i = 0; i < PairN; i++) begin
          ta = tin[2*i*TermW +: TermW];
          tb = tin[(2*i + 1)*TermW +: TermW];
          pv[i*PairW +: PairW] = (TreeSigned ? PairW'($signed(ta)) : PairW'(ta))
                               + (TreeSigned ? PairW'($signed(tb)) : PairW'(tb));
        end
        pairs = pv;
      end
      localparam int PairDly = (RegEvery == 1 || PpMul || PairQ) ? 1 : 0;
      delay_line #(.Width(PairN*PairW), .Depth(PairDly)) u_pair_dly (
        .clk_i, .rst_ni, .en_i(en_p[p]), .d_i(pairs), .q_o(pairs_t)
      );
      if (PairW < TermW) begin : g_unused_hi
        logic unused_hi;
        assign unused_hi = ^tree_in;
      end
      // PairQTop: tree level 3 is the mvau's level 4 (Lv0 0 for PairQ: the tree's even levels
      // are the mvau's odd ones)
      mvau_tree #(.N(PairN), .InW(PairW), .OutW(AccW), .Signed(TreeSigned), .Levels(TreeLv - 1),
                  .RegEvery(RegEvery), .Lv0((PpMul || PairQ) ? 0 : 1),
                  .RegFrom(PairQTop ? 3 : 0)) u_tree (
        .clk_i (clk_i),
        .en_i  (en_p[p]),
        .in_i  (pairs_t),
        .sum_o (sum)
      );
    end else if (Xnor) begin : g_pop
      // the 2-bit XNOR counts into a bit-heap popcount (6:3 counters, one adder; ~1.4 LUT per
      // XNOR bit with the 3:2 counters, against 1.63 through mvau_tree), same latency TreeRegs
      mvau_popcount #(.N(TermN), .OutW(TreeW), .Regs(TreeRegs)) u_pop (
        .clk_i (clk_i),
        .en_i  (en_p[p]),
        .in_i  (tree_in),
        .sum_o (sum)
      );
    end else begin : g_tree
      mvau_tree #(.N(TermN), .InW(TermW), .OutW(AccW), .Signed(TreeSigned), .Levels(TreeLv),
                  .RegEvery(RegEvery), .Lv0(0)) u_tree (
        .clk_i (clk_i),
        .en_i  (en_p[p]),
        .in_i  (tree_in),
        .sum_o (sum)
      );
    end

    if (XnSub) begin : g_sum_sub
      assign sum_x = xs_add;
    end else if (AccW > TreeW) begin : g_sum_ext
      assign sum_x = {{(AccW - TreeW){TreeSigned & sum_r[TreeW-1]}}, sum_r};
    end else begin : g_sum_same
      assign sum_x = sum_r;
    end

    // pair mode: a negative w_b is counted once too few by the pair term (~V = -V - 1 covers
    // only w_a's -1), so the step's count of negative odd-lane weights is subtracted here (a
    // constant of the step address; the writer's S is unchanged)
    logic [AccW-1:0] corr;
    if (PmPair && WConst) begin : g_corr_one
      assign corr = pm_neg;   // a constant (u_sel's count of the constant word)
      logic unused_we;
      assign unused_we = ^pp_w_end;
    end else if (PmPair) begin : g_corr
      logic [SIMD-1:0] we;
      assign we = pp_w_end[p*SIMD +: SIMD];
      always_comb begin : p_corr
        logic [AccW-1:0] cv;
        cv = '0;
        for (int i = 1; i < SIMD; i += 2) cv = cv + (we[i] ? AccW'(0) : AccW'(1));
        corr = cv;
      end
    end else if (XnSub) begin : g_corr_sub
      assign corr = xs_sub;
    end else begin : g_nocorr
      assign corr = '0;
    end
    if (!XnSub) begin : g_no_sub
      assign n0v[p*AccW +: AccW] = '0;
      assign xs_add   = '0;
      assign xs_sub   = '0;
      logic unused_xs;
      assign unused_xs = ^{xs_add, xs_sub};
    end
    if (!(PmPair && WConst)) begin : g_no_neg
      assign pm_neg = '0;
      logic unused_neg;
      assign unused_neg = ^pm_neg;
    end

    assign acc_d = (first_q[PipeN-1] ? AccInit : acc_q) + sum_x - corr;
    always_ff @(posedge clk_i) begin
      if (en_p[p] && v_q[PipeN-1]) acc_q <= acc_d;
    end
    assign acc_fin[p*AccW +: AccW] = acc_d;
  end

  // ------------------------------------------------- final acc and thresholds of a fold
  logic                a_v_q, a_final_q, fold_done;
  logic [PE*AccW-1:0]  fin_q;
  logic [PE*LaneW-1:0] t_q;

  assign fold_done = en & v_q[PipeN-1] & last_q[PipeN-1];

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      a_v_q <= 1'b0;
    end else if (en) begin
      a_v_q <= v_q[PipeN-1] & last_q[PipeN-1];
    end
  end

  always_ff @(posedge clk_i) begin
    if (en) a_final_q <= final_q[PipeN-1];
  end

  // Timing: fold_done's flags as a flop a stage early (fd_q[p] = v_q & last_q at PipeN-1), in
  // one copy per channel (keep: same D), each ANDed with its channel's stall copy, so no one
  // net enables every fin_q and (ECP5 flow) t_q bit: fold_done drove them all from one LUT
  // (target 16, PE = 16: 4.9 ns of routing)
  logic [PE-1:0] fdone;
  for (genvar p = 0; p < PE; p++) begin : g_fd
    (* keep *) logic f_q;
    (* keep *) always_ff @(posedge clk_i) begin
      if (!rst_ni) begin
        f_q <= 1'b0;
      end else if (en_p[p]) begin
        f_q <= v_q[PipeN-2] & last_q[PipeN-2];
      end
    end
    assign fdone[p] = en_p[p] & f_q;
    always_ff @(posedge clk_i) begin
      if (fdone[p]) fin_q[p*AccW +: AccW] <= acc_fin[p*AccW +: AccW];
    end
  end
  logic unused_fd;   // fold_done: the thresholds' enable outside the ECP5 flow (below)
  assign unused_fd = fold_done;

  // thresholds / biases: synchronous ROM read with the fold counter of this stage. In the
  // ECP5 flow (WRomLut: ROMs in logic) the counter is kept in one copy per TGroupW ROM bits
  // (each copy counts alike; keep: Yosys would merge equal flops), so no counter net drives
  // more than TGroupW ROM-bit LUTs: one shared counter drove every threshold bit of every lane
  // and its routing set the W4A4 MLP's Fmax (tnf_q -> t_q, 4.8 ns of routing in 6.9 ns). The
  // default flow keeps one counter and one read port (a block RAM, by size).
  if (NF > 1 && WRomLut) begin : g_t_lut
    localparam int TGroupW = 32;
    localparam int TGroups = (PE * LaneW + TGroupW - 1) / TGroupW;
    for (genvar c = 0; c < TGroups; c++) begin : g_grp
      localparam int Lo = c * TGroupW;
      localparam int Wc = (PE * LaneW - Lo < TGroupW) ? PE * LaneW - Lo : TGroupW;
      (* keep *) logic [NfW-1:0] a_q;
      logic [PE*LaneW-1:0] word;
      (* keep *) always_ff @(posedge clk_i) begin
        if (!rst_ni) a_q <= '0;
        else if (fdone[Lo / LaneW]) a_q <= (a_q == NfW'(NF - 1)) ? '0 : a_q + 1'b1;
      end
      assign word = t_rom[a_q];
      always_ff @(posedge clk_i) begin
        if (fdone[Lo / LaneW]) t_q[Lo +: Wc] <= word[Lo +: Wc];
      end
      if (Wc < PE * LaneW) begin : g_unused
        logic unused_word;
        assign unused_word = ^word;
      end
    end
  end else if (NF > 1) begin : g_t_rom
    logic [NfW-1:0] tnf_q;
    always_ff @(posedge clk_i) begin
      if (!rst_ni) tnf_q <= '0;
      else if (fold_done) tnf_q <= (tnf_q == NfW'(NF - 1)) ? '0 : tnf_q + 1'b1;
    end
    always_ff @(posedge clk_i) begin
      if (fold_done) t_q <= t_rom[tnf_q];
    end
  end else begin : g_t_rom1
    always_ff @(posedge clk_i) begin
      if (fold_done) t_q <= t_rom[0];
    end
  end

  // XnSub: the thresholds / biases in the domain of acc = S - n0 (n0v; constants): a score
  // (S << ScSh) + B is (acc << ScSh) + (B + (n0 << ScSh)); S >= U is acc >= U - n0, and the
  // inverted compare ~S >= U (neg) is ~acc >= U + n0. No overflow: acc and the clamped
  // thresholds stay within +-(K + 2), which AccW holds (it holds -1 .. K + 1)
  logic [PE*LaneW-1:0] t_x;
  if (XnSub && Scores) begin : g_tx_sc
    always_comb begin : p_tx
      logic [PE*LaneW-1:0] tv;
      for (int p = 0; p < PE; p++) begin
        tv[p*LaneW +: LaneW] = t_q[p*LaneW +: LaneW] + (LaneW'(n0v[p*AccW +: AccW]) << ScSh);
      end
      t_x = tv;
    end
  end else if (XnSub) begin : g_tx_thr
    always_comb begin : p_tx
      logic [PE*LaneW-1:0] tv;
      logic [AccW-1:0]     n0;
      for (int p = 0; p < PE; p++) begin
        n0 = n0v[p*AccW +: AccW];
        tv[p*LaneW + LaneW - 1] = t_q[p*LaneW + LaneW - 1];
        for (int i = 0; i < NThr; i++) begin
          tv[p*LaneW + i*AccW +: AccW] = t_q[p*LaneW + i*AccW +: AccW]
                                         + (t_q[p*LaneW + LaneW - 1] ? n0 : -n0);
        end
      end
      t_x = tv;
    end
  end else begin : g_tx
    assign t_x = t_q;
    logic unused_n0;
    assign unused_n0 = ^n0v;
  end

  // ------------------------------------------------- compare stage (mvau_act)
  // more than 7 thresholds: the count is a tree registered every 2 levels (ActRegs cycles)
  localparam int ActRegs = (!Scores && NThr > 7) ? $clog2(NThr) / 2 : 0;
  logic               b_v_q, b_final_q;
  logic [PE*ElemQ-1:0] res;

  if (ScCode) begin : g_sc_code
    // scores as codes (see ScCode): per lane {sign(acc), the ScLoW + 1 bits of
    // (acc << ScSh)[ScLoW-1:0] + B[ScLoW-1:0]}, registered as mvau_act registers its score (the
    // same cycle); here, not in mvau_act, so that B (t_q, a constant at one fold) folds in
    always_ff @(posedge clk_i) begin
      if (en) begin
        for (int p = 0; p < PE; p++) begin
          res[p*ElemQ +: ElemQ] <= {fin_q[p*AccW + AccW - 1],
                                    (ScLoW + 1)'({fin_q[p*AccW +: AccW], {ScSh{1'b0}}})
                                    + (ScLoW + 1)'(t_x[p*LaneW +: ScLoW])};
        end
      end
    end
    logic unused_t;
    assign unused_t = ^t_x;
  end else begin : g_act
    mvau_act #(.PE(PE), .AccW(AccW), .NThr(NThr), .OutBits(OutBits), .OutOffset(OutOffset),
               .Scores(Scores), .ScoreShift(ScSh), .CntRegEvery(2)) u_act (
      .clk_i (clk_i),
      .en_i  (en),
      .acc_i (fin_q),
      .thr_i (t_x),
      .res_o (res)
    );
  end

  logic [ActRegs:0] bv_q, bf_q;
  if (ActRegs > 0) begin : g_act_dly
    always_ff @(posedge clk_i) begin
      if (!rst_ni) begin
        bv_q <= '0;
      end else if (en) begin
        bv_q <= {bv_q[ActRegs-1:0], a_v_q};
      end
    end
    always_ff @(posedge clk_i) begin
      if (en) bf_q <= {bf_q[ActRegs-1:0], a_final_q};
    end
  end else begin : g_act_nodly
    always_ff @(posedge clk_i) begin
      if (!rst_ni) begin
        bv_q <= '0;
      end else if (en) begin
        bv_q <= a_v_q;
      end
    end
    always_ff @(posedge clk_i) begin
      if (en) bf_q <= a_final_q;
    end
  end
  assign b_v_q     = bv_q[ActRegs];
  assign b_final_q = bf_q[ActRegs];

  // ------------------------------------------------- output shift register and register
  // folds shift in from the top: after NF folds, fold 0 is in the LSBs (no fold-index mux)
  localparam int OutBufW = NF * PE * ElemQ;
  logic [OutBufW-1:0]  obuf_d;
  logic [M*ElemQ-1:0]  out_data_q;
  logic                out_valid_q, load, ld_q, ld_d;

  // Timing: load = en & b_v_q & b_final_q with the AND of the flags a flop (ld_q, loaded as
  // they are), and en from its own stall copy (en_s), so the stall loop starts at two lightly
  // loaded flops; every other stall copy has its own copy of ld_q (g_st)
  if (ActRegs > 0) begin : g_ld_dly
    assign ld_d = bv_q[ActRegs-1] & bf_q[ActRegs-1];
  end else begin : g_ld_nodly
    assign ld_d = a_v_q & a_final_q;
  end
  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      ld_q <= 1'b0;
    end else if (en) begin
      ld_q <= ld_d;
    end
  end
  assign load = en_s & ld_q;
  logic unused_bf;   // b_final_q: only through ld_q (b_v_q: also the output buffer's enable)
  assign unused_bf = b_final_q ^ b_v_q;

  if (OutBufW > M*ElemQ) begin : g_unused_pad
    logic unused_pad;
    assign unused_pad = ^obuf_d[OutBufW-1:M*ElemQ];
  end

  if (Steps > 1) begin : g_out_hold
    // The output buffer (the fold shift register; for NF = 1 a plain register) keeps a
    // finished vector (done_q) until the output register takes it, one cycle later when that
    // register is free or being read; the pipeline stalls only while a finished vector waits
    // and the output register is full (the g_en copies, flops loaded from the next-cycle state:
    // out_ready_i reaches that one flop and the output registers, not the pipeline enables).
    // No skid buffer and no 2:1 mux per output bit: with SF*NF >= 2 cycles between vectors a
    // consumer that takes each beat within SF*NF - 1 cycles never stalls the pipeline.
    logic [OutBufW-1:0] obuf_q;
    logic               done_q, xfer, done_d, out_valid_d;
    if (NF > 1) begin : g_shift
      assign obuf_d = {res, obuf_q[OutBufW-1:PE*ElemQ]};
    end else begin : g_one
      assign obuf_d = res;
      if (OutBufW > M*ElemQ) begin : g_unused_q
        logic unused_q;
        assign unused_q = ^obuf_q[OutBufW-1:M*ElemQ];
      end
    end
    always_ff @(posedge clk_i) begin
      if (en && b_v_q) obuf_q <= obuf_d;
    end

    // the output register takes a vector only when it is empty (not in the cycle it is read:
    // at most one beat per 2 cycles, which SF*NF >= 2 allows), so its load enable needs no
    // out_ready_i: it is ~out_valid_q, a flop, in one copy per CopyW output bits (keep: same
    // D, separate flops); an empty output register loads every cycle (its contents are unused)
    localparam int OutCopies = (M * ElemQ + CopyW - 1) / CopyW;
    assign xfer        = done_q & ~out_valid_q;
    assign done_d      = load | (done_q & ~xfer);
    assign out_valid_d = xfer | (out_valid_q & ~rdy_m);
    // the stall copies: en_s from the state itself, every other copy the same state and next
    // stall from its own copies (l_q, dn_q, ov_q). The stall is done_q & out_valid_q (its D
    // is done_d & out_valid_d), so a copy's load is ~(dn_q & ov_q) & l_q, not from st_q: the
    // next stall is one LUT4 of (l_q, dn_q, ov_q, out_ready_i) (with st_q, 5 inputs: two LUT
    // levels, the second placed apart from the first, 2 ns of routing at target 16)
    for (genvar c = 0; c < EnN; c++) begin : g_st
      if (c == EnN - 2) begin : g_main
        assign stall_dc[c] = done_d & out_valid_d;
      end else begin : g_copy
        (* keep *) logic l_q, dn_q, ov_q;   // this copy's ld_q, done_q, out_valid_q
        logic ld, xf, dn_d, ov_d;
        assign ld          = ~(dn_q & ov_q) & l_q;
        assign xf          = dn_q & ~ov_q;
        assign dn_d        = ld | (dn_q & ~xf);
        assign ov_d        = xf | (ov_q & ~rdy_c[c]);
        assign stall_dc[c] = dn_d & ov_d;
        (* keep *) always_ff @(posedge clk_i) begin
          if (!rst_ni) begin
            l_q  <= 1'b0;
            dn_q <= 1'b0;
            ov_q <= 1'b0;
          end else begin
            if (en_c[c]) l_q <= ld_d;
            dn_q <= dn_d;
            ov_q <= ov_d;
          end
        end
      end
    end

    for (genvar c = 0; c < OutCopies; c++) begin : g_oreg
      localparam int Lo = c * CopyW;
      localparam int Wc = (M * ElemQ - Lo < CopyW) ? M * ElemQ - Lo : CopyW;
      (* keep *) logic empty_q;   // this group's copy of ~out_valid_q
      (* keep *) always_ff @(posedge clk_i) begin
        if (!rst_ni) begin
          empty_q <= 1'b1;
        end else begin
          empty_q <= ~out_valid_d;
        end
      end
      always_ff @(posedge clk_i) begin
        if (empty_q) out_data_q[Lo +: Wc] <= obuf_q[Lo +: Wc];
      end
    end

    always_ff @(posedge clk_i) begin
      if (!rst_ni) begin
        done_q      <= 1'b0;
        out_valid_q <= 1'b0;
      end else begin
        done_q      <= done_d;
        out_valid_q <= out_valid_d;
      end
    end
  end else begin : g_out_skid
    // one step per vector: a one-vector skid buffer behind the output register: a finished
    // vector that finds the output register full and not taken waits there, and the pipeline
    // stalls only while the skid buffer is full. The stall is a flop (skid_q), so out_ready_i
    // (often a FIFO's count compare) drives only the output registers, not the enable of
    // every pipeline register.
    logic               skid_q;
    logic [M*ElemQ-1:0] skid_data_q;

    assign obuf_d      = res;
    logic               stall_d;
    assign stall_d = skid_q ? ~rdy_m : (load & out_valid_q & ~rdy_m);
    // the stall copies: en_s from the state itself, every other copy the same state and next
    // stall from its own copies (l_q, ov_q; its stall st_q = ~en_c[c] is its copy of skid_q)
    for (genvar c = 0; c < EnN; c++) begin : g_st
      if (c == EnN - 2) begin : g_main
        assign stall_dc[c] = stall_d;
      end else begin : g_copy
        (* keep *) logic l_q, ov_q;   // this copy's ld_q, out_valid_q
        logic ld;
        assign ld          = en_c[c] & l_q;
        assign stall_dc[c] = !en_c[c] ? ~rdy_c[c] : (ld & ov_q & ~rdy_c[c]);
        (* keep *) always_ff @(posedge clk_i) begin
          if (!rst_ni) begin
            l_q  <= 1'b0;
            ov_q <= 1'b0;
          end else begin
            if (en_c[c]) l_q <= ld_d;
            ov_q <= ld | ~en_c[c] | (ov_q & ~rdy_c[c]);
          end
        end
      end
    end

    always_ff @(posedge clk_i) begin
      if (load && (!out_valid_q || rdy_m)) begin
        out_data_q <= obuf_d[M*ElemQ-1:0];
      end else if (skid_q && rdy_m) begin
        out_data_q <= skid_data_q;
      end
      if (load && out_valid_q && !rdy_m) skid_data_q <= obuf_d[M*ElemQ-1:0];
    end

    always_ff @(posedge clk_i) begin
      if (!rst_ni) begin
        out_valid_q <= 1'b0;
        skid_q      <= 1'b0;
      end else begin
        out_valid_q <= load | skid_q | (out_valid_q & ~rdy_m);
        skid_q      <= stall_d;
      end
    end
  end

  assign out_valid_o = out_valid_q;
  if (ScCode) begin : g_sc_exp
    // the 32-bit scores from the codes: bits [ScLoW-1:0] as stored, the rest B's + carry - sign:
    // bit i of B_hi + 1 flips B's bit where B's bits ScLoW .. i-1 are all ones, of B_hi - 1 where
    // they are all zeros (B a constant: each bit a wire, a constant or a LUT2 of the flags).
    // B of every output from a register loaded each cycle from the threshold ROM (a constant
    // in synthesis; Icarus does not re-evaluate a continuous read of a $readmemh word)
    logic [NF*PE*32-1:0] b_q;
    always_ff @(posedge clk_i) begin
      for (int f = 0; f < NF; f++) b_q[f*PE*32 +: PE*32] <= t_rom[f];
      // (XnSub, one fold: the biases of t_x)
      if (XnSub) for (int p = 0; p < PE; p++) b_q[p*32 +: 32] <= t_x[p*LaneW +: 32];
    end
    always_comb begin : p_exp
      logic [M*32-1:0]  ov;
      logic [ElemQ-1:0] cd;
      logic [31:0]      b;
      logic             inc, dec, on, zr;
      for (int j = 0; j < M; j++) begin
        cd  = out_data_q[j*ElemQ +: ElemQ];
        b   = b_q[j*32 +: 32];
        inc = cd[ScLoW] & ~cd[ScLoW+1];
        dec = cd[ScLoW+1] & ~cd[ScLoW];
        on  = 1'b1;
        zr  = 1'b1;
        ov[j*32 +: ScLoW] = cd[ScLoW-1:0];
        for (int i = ScLoW; i < 32; i++) begin
          ov[j*32 + i] = b[i] ^ (inc & on) ^ (dec & zr);
          on = on & b[i];
          zr = zr & ~b[i];
        end
      end
      out_data_o = ov;
    end
    if (NF * PE > M) begin : g_unused_b
      logic unused_b;
      assign unused_b = ^b_q[NF*PE*32-1:M*32];
    end
  end else begin : g_out_plain
    assign out_data_o = out_data_q;
  end

endmodule
