// mvau_popcount: pipelined sum of N 2-bit counts (fastinference), the XNOR popcount of the mvau.
//
// Input: N counts of three XNOR bits each (the mvau's 3:2 counters), count g at
// in_i[2*g +: 2] = {carry, sum} (value 0..3). Output: sum_o = the total modulo 2^OutW (exact when
// the total fits OutW bits: the mvau passes OutW >= 2 + $clog2(N), or its accumulator width).
// Bits1 = 1: N single bits instead (in_i[g], weight 1: the popcount of in_i; the fully parallel
// XNOR mvau's counts of x over a channel's +1 or -1 lanes and of all of x, WValOn).
//
// A bit heap instead of an adder tree: the sum bits form column 0 and the carry bits column 1
// of a heap of OutW columns (column c weighs 2^c). Each compression stage splits every column
// into 6:3 counters (a 6-input LUT per output bit: three bits of weights 2^c, 2^(c+1), 2^(c+2)
// out of six in), a last 5:3 or 3:2 counter on the rest when three or more bits remain, and
// passes the rest through, until no column holds more than two bits; one carry-chain adder
// adds the last two rows. Outputs of weight >= 2^OutW are dropped. Each counter removes about a
// bit per LUT, where a ripple adder of two w-bit counts removes w-1 bits with w LUTs (the leaves
// of an adder tree of 2-bit counts remove one bit per two LUTs): 128 XNOR bits in Yosys
// synth_xilinx cost ~1.4 LUT per bit with the mvau's 3:2 counters, 1.63 with mvau_tree.
// Heap layout of stage s: one flat vector, column c at [off(s, c) +: h(s, c)]; in column c of
// stage s+1: the bits passed through, then bit 0 of column c's counters, bit 1 of column c-1's,
// bit 2 of column c-2's (constant functions below compute every height and offset).
//
// Pipelining: L = stages + 1 (the adder) LUT levels and exactly Regs registers enabled by en_i
// (the mvau's global stall): the adder's output always (Regs > 0), the others where they cut
// the levels into segments of the least delay (plan_regs below: 6:3 levels weigh more than 3:2
// ones, the first level more for its routed inputs); Regs > L adds delay registers at the
// output. So the latency is Regs cycles, as the mvau's schedule expects. Throughput: one sum per enabled
// cycle. Datapath flops have no reset.
module mvau_popcount #(
  parameter int N    = 4,
  parameter int OutW = 4,
  parameter int Regs = 1,
  parameter bit Bits1 = 1'b0   // 1: N single bits (column 0 only), in_i[g] (no carry bits)
) (
  input  logic            clk_i,
  input  logic            en_i,
  input  logic [(Bits1 ? N : 2*N)-1:0] in_i,
  output logic [OutW-1:0] sum_o
);

  localparam int HW = 16;        // bits per height or offset in the plan tables
  localparam int CW = OutW;      // heap columns
  localparam int MS = 24;        // stages planned (N = 2,000 counts need 12)

  // The plan, computed once (Yosys evaluates constant functions slowly: every height and
  // offset below is a part-select of these two tables, not a function call per use; Icarus 11
  // takes no function call inside a constant function's loop either).
  // PH: the heights after s = 0 .. MS stages, column c of stage s at [(s*CW + c)*HW +: HW]
  // (stages after the last one change nothing).
  function automatic logic [(MS+1)*CW*HW-1:0] plan_h(input logic [HW-1:0] n);
    logic [(MS+1)*CW*HW-1:0] ph;
    logic [CW*HW-1:0] h, hn;
    int n6, r, lk, nc, nc1, n42, left;
    h = '0;
    h[0 +: HW] = n;
    if (CW > 1) h[HW +: HW] = Bits1 ? '0 : n;
    ph = '0;
    ph[0 +: CW*HW] = h;
    for (int i = 1; i <= MS; i++) begin
      hn = '0;
      for (int c = 0; c < CW; c++) begin
        n6   = int'(h[c*HW +: HW]) / 6;
        r    = int'(h[c*HW +: HW]) % 6;
        lk   = (r == 5) ? 5 : ((r >= 3) ? 3 : 0);
        nc   = n6 + ((lk > 0) ? 1 : 0);
        left = r - lk;
        nc1  = 0;
        n42  = 0;
        if (c >= 1) begin
          nc1 = int'(h[(c-1)*HW +: HW]) / 6
                + ((int'(h[(c-1)*HW +: HW]) % 6 >= 3) ? 1 : 0);
        end
        if (c >= 2) begin
          n42 = int'(h[(c-2)*HW +: HW]) / 6
                + ((int'(h[(c-2)*HW +: HW]) % 6 == 5) ? 1 : 0);
        end
        hn[c*HW +: HW] = HW'(left + nc + nc1 + n42);
      end
      h = hn;
      ph[i*CW*HW +: CW*HW] = h;
    end
    plan_h = ph;
  endfunction

  // PO: the offset of column c of stage s at [(s*(CW+1) + c)*HW +: HW]; c = CW: the stage's
  // total. NSf: the stages until no column holds more than two bits.
  function automatic logic [(MS+1)*(CW+1)*HW-1:0] plan_off(input logic [(MS+1)*CW*HW-1:0] ph);
    logic [(MS+1)*(CW+1)*HW-1:0] po;
    int o;
    po = '0;
    for (int i = 0; i <= MS; i++) begin
      o = 0;
      for (int c = 0; c <= CW; c++) begin
        po[(i*(CW+1) + c)*HW +: HW] = HW'(o);
        if (c < CW) o = o + int'(ph[(i*CW + c)*HW +: HW]);
      end
    end
    plan_off = po;
  endfunction

  function automatic int plan_ns(input logic [(MS+1)*CW*HW-1:0] ph);
    int n;
    bit ok;
    n = MS;   // (N < 2^20 needs fewer: each stage shrinks the tallest column ~2x)
    for (int i = MS; i >= 0; i--) begin
      ok = 1'b1;
      for (int c = 0; c < CW; c++) begin
        if (int'(ph[(i*CW + c)*HW +: HW]) > 2) ok = 1'b0;
      end
      if (ok) n = i;
    end
    plan_ns = n;
  endfunction

  // The register spread: bit s = stage s's output (level s + 1) is a register; the adder's
  // (level L = ns + 1) always is, when regs > 0. Each level has a delay weight: 2 when a
  // column holds five or more bits (5:3 / 6:3 counters, a LUT5 / LUT6: several LUT4s and muxes
  // on ECP5), else 1 (3:2 counters); the adder 2; the first level one more (its inputs are
  // routed from the mvau's count registers, placed with the XNOR logic). The regs registers
  // cut the L levels into regs segments of the least maximum weight (the least cap whose
  // greedy cut from the end needs no more segments), cut greedily from the end (longer
  // segments late, where the levels are 3:2 counters); registers left over go to the first
  // levels. regs >= L: every level (plus delays at the output, below); regs <= 1: the adder's.
  function automatic logic [MS:0] plan_regs(input logic [(MS+1)*CW*HW-1:0] ph, input int ns,
                                            input int regs);
    logic [MS:0] m;
    logic [4*(MS+2)-1:0] wv;   // level j's weight at [4*j +: 4], j = 1 .. ns + 1
    int hmax, cap, segs, acc, left, wj, wp;
    bit found;
    m  = '0;
    wv = '0;
    for (int j = 1; j <= MS + 1; j++) begin
      hmax = 0;
      if (j <= ns) begin
        for (int c = 0; c < CW; c++) begin
          if (int'(ph[((j-1)*CW + c)*HW +: HW]) > hmax) hmax = int'(ph[((j-1)*CW + c)*HW +: HW]);
        end
      end
      if (j == ns + 1) wv[4*j +: 4] = 4'd2;
      else if (j <= ns) wv[4*j +: 4] = 4'((hmax >= 5) ? 2 : 1) + ((j == 1) ? 4'd1 : 4'd0);
    end
    if (regs >= ns + 1) begin
      for (int s = 0; s < MS; s++) begin
        if (s < ns) m[s] = 1'b1;
      end
    end else if (regs >= 2) begin
      found = 1'b0;
      cap   = 0;
      for (int cc = 3; cc <= 3*(MS+2); cc++) begin
        if (!found) begin
          segs = 1;
          acc  = 0;
          for (int j = MS + 1; j >= 1; j--) begin
            if (j <= ns + 1) begin
              wj = int'(wv[4*j +: 4]);
              if (acc + wj > cc) begin
                segs = segs + 1;
                acc  = 0;
              end
              acc = acc + wj;
            end
          end
          if (segs <= regs) begin
            found = 1'b1;
            cap   = cc;
          end
        end
      end
      left = regs - 1;
      acc  = 0;
      for (int j = MS + 1; j >= 2; j--) begin
        if (j <= ns + 1) begin
          wj  = int'(wv[4*j +: 4]);
          wp  = int'(wv[4*(j-1) +: 4]);
          acc = acc + wj;
          if (left > 0 && (acc + wp > cap || j - 1 <= left)) begin
            m[j-2] = 1'b1;
            left   = left - 1;
            acc    = 0;
          end
        end
      end
    end
    plan_regs = m;
  endfunction

  // 6-input popcount truth tables, output bit b
  function automatic logic [63:0] pop6(input int b);
    logic [63:0] t;
    int n;
    for (int i = 0; i < 64; i++) begin
      n = 0;
      for (int j = 0; j < 6; j++) n = n + ((i >> j) & 1);
      t[i] = ((n >> b) & 1) == 1;
    end
    pop6 = t;
  endfunction

  localparam logic [63:0] P0 = pop6(0);
  localparam logic [63:0] P1 = pop6(1);
  localparam logic [63:0] P2 = pop6(2);
  localparam logic [(MS+1)*CW*HW-1:0]     PH = plan_h(HW'(N));
  localparam logic [(MS+1)*(CW+1)*HW-1:0] PO = plan_off(PH);
  localparam int NS   = plan_ns(PH);
  localparam int L    = NS + 1;
  localparam logic [MS:0] PR = plan_regs(PH, NS, Regs);
  localparam int TotW = Bits1 ? N : 2 * N;   // no stage holds more bits than the input

  // the plan's height and offset of column c at stage s
  function automatic int hgt(input int s, input int c);
    hgt = (c < 0 || c >= CW) ? 0 : int'(PH[(s*CW + c)*HW +: HW]);
  endfunction
  function automatic int off(input int s, input int c);
    off = int'(PO[(s*(CW+1) + c)*HW +: HW]);
  endfunction
  // counters of column c at stage s: n6(s, c) of six bits, then one of lastk (5 or 3; 0: none)
  function automatic int n6f(input int s, input int c);
    n6f = (c < 0 || c >= CW) ? 0 : hgt(s, c) / 6;
  endfunction
  function automatic int lastk(input int s, input int c);
    int r;
    r     = (c < 0 || c >= CW) ? 0 : hgt(s, c) % 6;
    lastk = (r == 5) ? 5 : ((r >= 3) ? 3 : 0);
  endfunction
  function automatic int ncnt(input int s, input int c);
    ncnt = n6f(s, c) + ((lastk(s, c) > 0) ? 1 : 0);
  endfunction
  function automatic int nleft(input int s, input int c);
    nleft = hgt(s, c) % 6 - lastk(s, c);
  endfunction

  // one net per stage (an unpacked array, not one packed vector: Icarus re-evaluates every
  // reader of a packed vector whenever any stage changes)
  (* mem2reg *) logic [TotW-1:0] hv [NS+1];   // Yosys: nets, not a memory

  // stage 0: the sum bits in column 0, the carry bits in column 1
  if (Bits1) begin : g_in_b
    assign hv[0] = in_i;   // column 0: the N bits; column 1 empty
  end else if (CW > 1) begin : g_in2
    for (genvar g = 0; g < N; g++) begin : g_in
      assign hv[0][g]     = in_i[2*g];
      assign hv[0][N + g] = in_i[2*g + 1];
    end
  end else begin : g_in1
    for (genvar g = 0; g < N; g++) begin : g_in
      assign hv[0][g]     = in_i[2*g];
      assign hv[0][N + g] = 1'b0;
    end
    logic unused_c;
    assign unused_c = ^in_i;
  end

  for (genvar s = 0; s < NS; s++) begin : g_st
    localparam int TotN = off(s + 1, CW);
    localparam bit Reg  = PR[s];
    logic [TotW-1:0] cur, nxt;
    assign cur = hv[s];
    if (off(s, CW) < TotW) begin : g_unused_top   // (the stage's bits above its heap: zeros)
      logic unused_top;
      assign unused_top = ^cur[TotW-1:off(s, CW)];
    end

    for (genvar c = 0; c < CW; c++) begin : g_col
      localparam int Off  = off(s, c);
      localparam int N6   = n6f(s, c);
      localparam int LK   = lastk(s, c);
      localparam int NC   = ncnt(s, c);
      localparam int Left = nleft(s, c);
      localparam int B0   = off(s + 1, c) + Left;
      // bit 1 into column c+1 after its pass-through bits and its own counters' bit 0
      localparam int B1   = (c + 1 < CW) ? off(s + 1, c + 1) + nleft(s, c + 1) + ncnt(s, c + 1) : 0;
      // bit 2 into column c+2 after those and column c+1's bit-1 outputs
      localparam int B2   = (c + 2 < CW) ? off(s + 1, c + 2) + nleft(s, c + 2) + ncnt(s, c + 2)
                                           + ncnt(s, c + 1) : 0;
      for (genvar i = 0; i < Left; i++) begin : g_pass
        assign nxt[off(s + 1, c) + i] = cur[Off + 6*N6 + LK + i];
      end
      for (genvar k = 0; k < NC; k++) begin : g_cnt
        localparam int Sz = (k < N6) ? 6 : LK;
        logic [5:0] v;
        logic [2:0] o;
        assign v = 6'(cur[Off + 6*k +: Sz]);
        assign o = {P2[v], P1[v], P0[v]};
        assign nxt[B0 + k] = o[0];
        if (c + 1 < CW) begin : g_o1
          assign nxt[B1 + k] = o[1];
        end
        if (c + 2 < CW && Sz > 3) begin : g_o2
          assign nxt[B2 + k] = o[2];
        end
        if (!(c + 1 < CW) || !(c + 2 < CW && Sz > 3)) begin : g_drop
          logic unused_o;
          assign unused_o = ^o;
        end
      end
    end
    if (TotN < TotW) begin : g_zero
      assign nxt[TotW-1:TotN] = '0;
    end
    if (Reg) begin : g_q
      logic [TotW-1:0] nxt_q;
      always_ff @(posedge clk_i) begin
        if (en_i) nxt_q <= nxt;
      end
      assign hv[s + 1] = nxt_q;
    end else begin : g_c
      assign hv[s + 1] = nxt;
    end
  end

  // the last two rows (every column holds at most two bits) into one carry-chain adder
  logic [OutW-1:0] row_a, row_b, sum;
  for (genvar c = 0; c < CW; c++) begin : g_row
    localparam int H = hgt(NS, c);
    localparam int O = off(NS, c);
    if (H >= 1) begin : g_a
      assign row_a[c] = hv[NS][O];
    end else begin : g_a0
      assign row_a[c] = 1'b0;
    end
    if (H >= 2) begin : g_b
      assign row_b[c] = hv[NS][O + 1];
    end else begin : g_b0
      assign row_b[c] = 1'b0;
    end
  end
  assign sum = row_a + row_b;

  // registers after the adder: one if the spread above puts one there, plus Regs - L delays
  localparam int OutRegs = ((Regs > L) ? Regs - L : 0) + ((Regs > 0) ? 1 : 0);
  if (OutRegs > 0) begin : g_out_q
    logic [OutRegs*OutW-1:0] dly_q;   // the newest sum in the LSBs
    always_ff @(posedge clk_i) begin
      if (en_i) dly_q <= (OutRegs*OutW)'({dly_q, sum});
    end
    assign sum_o = dly_q[OutRegs*OutW-1 -: OutW];
  end else begin : g_out_c
    assign sum_o = sum;
  end

  logic [NS:0] unused_hv;
  for (genvar s = 0; s <= NS; s++) begin : g_unused
    assign unused_hv[s] = ^hv[s];
  end
  if (Regs == 0) begin : g_no_regs
    logic unused_clk;
    assign unused_clk = clk_i ^ en_i;
  end

endmodule
