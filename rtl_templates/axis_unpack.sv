// axis_unpack: narrow AXI4-Stream input beats -> one input vector per inference (fastinference).
//
// Data layout: the Elems values of an inference (InBits bits each, ONNX flatten order) travel
// in Beats = ceil(Elems / PerBeat) beats of StreamW bits, PerBeat = min(Elems,
// StreamW / InBits) values per beat packed LSB-first: value i in beat i / PerBeat at bits
// [(i % PerBeat) * InBits +: InBits] (fastinference/axis.py). The unused high bits of a beat
// and the pad values of the last beat are ignored. out_data_o holds value i at
// [i*InBits +: InBits].
// Framing: the beat count frames an inference (as FINN's cores do); in_last_i (TLAST) is
//   accepted and ignored: a DMA sets it on the last beat of each inference.
// Implementation: a shift register of Beats x PerBeat x InBits bits (each beat enters at the
//   top and moves down one beat width; no write decoder, no read mux) and a beat counter.
// Throughput: one beat a cycle, Beats cycles per inference: the first beat of the next
//   inference enters in the cycle the finished vector is handed on.
// Latency: 1 cycle (the vector is offered the cycle after its last beat).
// Back-pressure: in_ready_o = !full || out_ready_i (combinational from out_ready_i only).
// Reset: synchronous, active low (rst_ni held low for at least one clock edge).
module axis_unpack #(
  parameter int StreamW = 8,  // TDATA bits, a multiple of 8
  parameter int Elems   = 4,  // values per inference
  parameter int InBits  = 8   // bits per value
) (
  input  logic                    clk_i,
  input  logic                    rst_ni,
  input  logic                    in_valid_i,
  output logic                    in_ready_o,
  input  logic [StreamW-1:0]      in_data_i,
  input  logic                    in_last_i,
  output logic                    out_valid_o,
  input  logic                    out_ready_i,
  output logic [Elems*InBits-1:0] out_data_o
);

  localparam int PerBeat = (StreamW / InBits < Elems) ? StreamW / InBits : Elems;
  localparam int Beats   = (Elems + PerBeat - 1) / PerBeat;
  localparam int BeatW   = PerBeat * InBits;
  localparam int VecW    = Beats * BeatW;
  localparam int CntW    = (Beats > 1) ? $clog2(Beats) : 1;

  logic [VecW-1:0] vec_q;
  logic [CntW-1:0] count_q;
  logic            full_q;
  logic            last, take;

  assign last        = (count_q == CntW'(Beats - 1));
  assign out_valid_o = full_q;
  assign in_ready_o  = ~full_q | out_ready_i;
  assign take        = in_valid_i & in_ready_o;
  assign out_data_o  = vec_q[Elems*InBits-1:0];

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      full_q  <= 1'b0;
      count_q <= '0;
    end else begin
      if (full_q && out_ready_i) full_q <= 1'b0;
      if (take) begin
        count_q <= last ? '0 : count_q + 1'b1;
        if (last) full_q <= 1'b1;
      end
    end
  end

  // data: no reset needed (qualified by full_q)
  if (Beats > 1) begin : g_shift
    always_ff @(posedge clk_i) begin
      if (take) vec_q <= {in_data_i[BeatW-1:0], vec_q[VecW-1:BeatW]};
    end
  end else begin : g_load
    always_ff @(posedge clk_i) begin
      if (take) vec_q <= in_data_i[BeatW-1:0];
    end
  end

  // TLAST, the unused high bits of a beat and the pad values of the last beat
  logic unused_in;
  if (VecW > Elems * InBits) begin : g_pad
    assign unused_in = ^{in_last_i, in_data_i, vec_q[VecW-1:Elems*InBits]};
  end else begin : g_nopad
    assign unused_in = ^{in_last_i, in_data_i};
  end

endmodule
