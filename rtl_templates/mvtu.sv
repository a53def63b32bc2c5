// mvtu: matrix-vector-threshold unit of a binarized dense layer (fastinference).
//
// Computes, for M output neurons over K inputs with +-1 weights,
//   acc_j = sum_k w_jk * x_k
// where x_k is a bit (Binary=1: bit 1 = +1, bit 0 = -1; the product is an XNOR) or an
// InBits-bit integer (Binary=0, signed if InSigned, first layer only). Then either
//   Scores=0: bit j = (acc_j >= T_j) for direction +1, (acc_j <= T_j) for direction -1
//   Scores=1: score j = acc_j + bias_j as 32-bit two's complement.
//
// Folding: PE neurons in parallel, SIMD inputs per neuron per cycle. One input vector is
// processed in SF = ceil(K/SIMD) steps per fold and NF = ceil(M/PE) folds, one step a cycle.
// Pad lanes of the last step (K % SIMD) are masked; pad neurons (M % PE) are dropped.
//
// Stream protocol (valid/ready on both sides):
//   in : one beat = one whole input vector, element k at in_data_i[k*InBits +: InBits].
//   out: one beat = one whole output vector, element j at out_data_o[j*ElemW +: ElemW]
//        (ElemW = 1 for bits, 32 for scores).
// Throughput: exactly SF*NF cycles per vector in steady state (the input is double
//   buffered: the next vector is accepted while the current one is computed; no bubble).
// Latency: 2 + SF*NF cycles from the input handshake to out_valid_o (idle unit).
// Back-pressure: accepted on the output; the unit stalls only when it finishes a vector
//   while the previous output is still waiting for out_ready_i.
//
// Memories (read with $readmemh, file names relative to the simulator's working directory):
//   WeightFile: SF*NF words of PE*SIMD bits, word nf*SF+sf, bit p*SIMD+s = weight bit
//               (1 = +1) of neuron nf*PE+p for input sf*SIMD+s; pad bits 0.
//   ThreshFile: NF words of PE*ThrW bits, lane p at [p*ThrW +: ThrW]. Scores=0:
//               ThrW = AccWidth+1, {direction (1: >=, 0: <=), threshold[AccWidth-1:0]};
//               Scores=1: ThrW = 32, the bias.
// AccWidth must hold the accumulator range and the (clamped) thresholds as two's complement
// and be larger than InBits and than $clog2(K+1).
module mvtu #(
  parameter int K          = 8,
  parameter int M          = 4,
  parameter int PE         = 1,
  parameter int SIMD       = 1,
  parameter bit          Binary     = 1'b1,
  parameter int InBits     = 1,
  parameter bit          InSigned   = 1'b0,
  parameter bit          Scores     = 1'b0,
  parameter int AccWidth   = 16,
  parameter              WeightFile = "",
  parameter              ThreshFile = ""
) (
  input  logic                             clk_i,
  input  logic                             rst_ni,
  input  logic                             in_valid_i,
  output logic                             in_ready_o,
  input  logic [K*InBits-1:0]              in_data_i,
  output logic                             out_valid_o,
  input  logic                             out_ready_i,
  output logic [M*(Scores ? 32 : 1)-1:0]   out_data_o
);

  localparam int SF     = (K + SIMD - 1) / SIMD;
  localparam int NF     = (M + PE - 1) / PE;
  localparam int Steps  = SF * NF;
  localparam int InW    = SF * SIMD * InBits;   // padded input vector
  localparam int SliceW = SIMD * InBits;
  localparam int Tail   = K - (SF - 1) * SIMD;  // real lanes in the last step
  localparam int ElemW  = Scores ? 32 : 1;
  localparam int ThrW   = Scores ? 32 : AccWidth + 1;
  localparam int SfW    = (SF > 1) ? $clog2(SF) : 1;
  localparam int NfW    = (NF > 1) ? $clog2(NF) : 1;
  localparam int AddrW  = (Steps > 1) ? $clog2(Steps) : 1;

  // ---------------------------------------------------------------- memories
  // ROMs: only initialized from the files (undriven when no file is given)
  /* verilator lint_off UNDRIVEN */
  logic [PE*SIMD-1:0] w_rom [Steps];
  logic [PE*ThrW-1:0] t_rom [NF];
  /* verilator lint_on UNDRIVEN */
  // (no file: the unelaborated default, e.g. Yosys reading this file before the top)
  if (WeightFile != "") begin : g_w_init
    initial $readmemh(WeightFile, w_rom, 0, Steps - 1);
  end
  if (ThreshFile != "") begin : g_t_init
    initial $readmemh(ThreshFile, t_rom, 0, NF - 1);
  end

  // ------------------------------------------------- input double buffer
  logic [InW-1:0] in_pad;
  logic [InW-1:0] buf0_q, buf1_q;
  logic [1:0]     full_q, full_d;
  logic           wr_ptr_q, rd_ptr_q;
  logic           in_hs;

  always_comb begin
    in_pad = '0;
    in_pad[K*InBits-1:0] = in_data_i;
  end

  assign in_ready_o = ~full_q[wr_ptr_q];
  assign in_hs      = in_valid_i & in_ready_o;

  always_ff @(posedge clk_i) begin
    if (in_hs && !wr_ptr_q) buf0_q <= in_pad;
    if (in_hs &&  wr_ptr_q) buf1_q <= in_pad;
  end

  // ------------------------------------------------- stage 0: step counters
  logic [SfW-1:0]   sf_q;
  logic [NfW-1:0]   nf_q;
  logic [AddrW-1:0] addr_q;
  logic             s0_valid, s0_fire, s0_first, s0_last_sf, s0_last_nf, s0_done;
  logic             stall;
  logic [InW-1:0]   s0_vec;
  logic [SliceW-1:0] s0_slice;

  assign s0_valid   = full_q[rd_ptr_q];
  assign s0_fire    = s0_valid & ~stall;
  assign s0_first   = (sf_q == '0);
  assign s0_last_sf = (sf_q == SfW'(SF - 1));
  assign s0_last_nf = (nf_q == NfW'(NF - 1));
  assign s0_done    = s0_fire & s0_last_sf & s0_last_nf;
  assign s0_vec     = rd_ptr_q ? buf1_q : buf0_q;
  assign s0_slice   = s0_vec[sf_q * SliceW +: SliceW];

  always_comb begin
    full_d = full_q;
    if (in_hs)   full_d[wr_ptr_q] = 1'b1;
    if (s0_done) full_d[rd_ptr_q] = 1'b0;
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      full_q   <= '0;
      wr_ptr_q <= 1'b0;
      rd_ptr_q <= 1'b0;
      sf_q     <= '0;
      nf_q     <= '0;
      addr_q   <= '0;
    end else begin
      full_q <= full_d;
      if (in_hs)   wr_ptr_q <= ~wr_ptr_q;
      if (s0_done) rd_ptr_q <= ~rd_ptr_q;
      if (s0_fire) begin
        sf_q   <= s0_last_sf ? '0 : sf_q + 1'b1;
        nf_q   <= s0_last_sf ? (s0_last_nf ? '0 : nf_q + 1'b1) : nf_q;
        addr_q <= (s0_last_sf && s0_last_nf) ? '0 : addr_q + 1'b1;
      end
    end
  end

  // ------------------------------------------------- stage 1: accumulate
  logic              s1_valid_q, s1_first_q, s1_last_sf_q, s1_final_q;
  logic [NfW-1:0]    s1_nf_q;
  logic [SliceW-1:0] s1_x_q;
  logic [PE*SIMD-1:0] s1_w_q;
  logic [PE*ThrW-1:0] s1_t;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      s1_valid_q   <= 1'b0;
      s1_first_q   <= 1'b0;
      s1_last_sf_q <= 1'b0;
      s1_final_q   <= 1'b0;
      s1_nf_q      <= '0;
    end else if (!stall) begin
      s1_valid_q   <= s0_valid;
      s1_first_q   <= s0_first;
      s1_last_sf_q <= s0_last_sf;
      s1_final_q   <= s0_last_sf & s0_last_nf;
      s1_nf_q      <= nf_q;
    end
  end

  // weights: synchronous ROM read (block RAM), enabled while the pipeline moves
  if (Steps > 1) begin : g_w_rom
    always_ff @(posedge clk_i) begin
      if (!stall) s1_w_q <= w_rom[addr_q];
    end
  end else begin : g_w_rom1
    logic unused_addr;
    assign unused_addr = ^addr_q;
    always_ff @(posedge clk_i) begin
      if (!stall) s1_w_q <= w_rom[0];
    end
  end

  always_ff @(posedge clk_i) begin
    if (!stall) s1_x_q <= s0_slice;
  end

  // thresholds / biases: ROM read with the fold index of stage 0, registered like the
  // weights (a continuous read of a $readmemh memory is not re-evaluated by every simulator)
  if (NF > 1) begin : g_t_rom
    always_ff @(posedge clk_i) begin
      if (!stall) s1_t <= t_rom[nf_q];
    end
  end else begin : g_t_rom1
    always_ff @(posedge clk_i) begin
      if (!stall) s1_t <= t_rom[0];
    end
  end

  // only the last step of a fold has pad lanes (K % SIMD != 0): mask them
  logic [SIMD-1:0] lane_ok;
  for (genvar s = 0; s < SIMD; s++) begin : g_lane_ok
    if (s < Tail) begin : g_real
      assign lane_ok[s] = 1'b1;
    end else begin : g_pad
      assign lane_ok[s] = ~s1_last_sf_q;
    end
  end

  // one processing element per output neuron of the fold; all its signals are local
  logic [PE*ElemW-1:0] res;   // fold results: threshold bits or 32-bit scores

  for (genvar p = 0; p < PE; p++) begin : g_pe
    logic [SIMD-1:0]     wp;        // this neuron's weight bits of the step
    logic [AccWidth-1:0] step_sum;  // sum over the SIMD lanes of this step
    logic [AccWidth-1:0] acc_q, acc_d, acc_fin;

    assign wp = s1_w_q[p*SIMD +: SIMD];

    if (Binary) begin : g_xnor
      // XNOR: +1 when the input bit equals the weight bit; count the ones (pad lanes
      // masked), acc = 2 * count - K at the end of the fold
      logic [SIMD-1:0] match;
      assign match = ~(s1_x_q[SIMD-1:0] ^ wp) & lane_ok;
      adder_tree #(.N(SIMD), .InW(1), .OutW(AccWidth), .Signed(1'b0), .LeafN(8)) u_popcount (
        .in_i  (match),
        .sum_o (step_sum)
      );
    end else begin : g_int
      // integer inputs: per lane +x or -x (weight bit 1 / 0), pad lanes 0
      logic [SIMD*AccWidth-1:0] terms;
      for (genvar s = 0; s < SIMD; s++) begin : g_lane
        logic [InBits-1:0]   xl;
        logic [AccWidth-1:0] xe;
        assign xl = s1_x_q[s*InBits +: InBits];
        assign xe = {{(AccWidth-InBits){InSigned & xl[InBits-1]}}, xl};
        assign terms[s*AccWidth +: AccWidth] = !lane_ok[s] ? '0 : (wp[s] ? xe : (~xe + 1'b1));
      end
      adder_tree #(.N(SIMD), .InW(AccWidth), .OutW(AccWidth), .Signed(1'b1), .LeafN(4)) u_sum (
        .in_i  (terms),
        .sum_o (step_sum)
      );
    end

    assign acc_d = (s1_first_q ? '0 : acc_q) + step_sum;

    always_ff @(posedge clk_i) begin
      if (s1_valid_q && !stall) acc_q <= acc_d;
    end

    if (Binary) begin : g_fin_bin
      assign acc_fin = {acc_d[AccWidth-2:0], 1'b0} - AccWidth'(K);
    end else begin : g_fin_int
      assign acc_fin = acc_d;
    end

    if (Scores) begin : g_score
      logic [31:0] acc32;
      assign acc32 = 32'($signed(acc_fin));
      assign res[p*32 +: 32] = acc32 + s1_t[p*ThrW +: 32];
    end else begin : g_thresh
      logic signed [AccWidth-1:0] a, t;
      logic                       dir;
      assign a      = $signed(acc_fin);
      assign t      = $signed(s1_t[p*ThrW +: AccWidth]);
      assign dir    = s1_t[p*ThrW + AccWidth];
      assign res[p] = dir ? (a >= t) : (a <= t);
    end
  end

  // ------------------------------------------------- output assembly and register
  localparam int OutBufW = NF * PE * ElemW;
  logic [OutBufW-1:0]      obuf_q, obuf_d;
  logic [M*ElemW-1:0]      out_data_q;
  logic                    out_valid_q, load;
  logic                    s1_fold_done;

  assign s1_fold_done = s1_valid_q & s1_last_sf_q & ~stall;
  assign load         = s1_valid_q & s1_final_q & ~stall;
  assign stall        = s1_valid_q & s1_final_q & out_valid_q & ~out_ready_i;

  always_comb begin
    obuf_d = obuf_q;
    if (s1_fold_done) obuf_d[s1_nf_q * (PE*ElemW) +: PE*ElemW] = res;
  end

  always_ff @(posedge clk_i) begin
    obuf_q <= obuf_d;
    if (load) out_data_q <= obuf_d[M*ElemW-1:0];
  end

  if (OutBufW > M*ElemW) begin : g_unused_pad
    logic unused_pad;
    assign unused_pad = ^obuf_d[OutBufW-1:M*ElemW];
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      out_valid_q <= 1'b0;
    end else begin
      out_valid_q <= load | (out_valid_q & ~out_ready_i);
    end
  end

  assign out_valid_o = out_valid_q;
  assign out_data_o  = out_data_q;

endmodule
