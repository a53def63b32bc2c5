// stream_fifo: valid/ready FIFO of Depth entries of Width bits (fastinference).
//
// Registers only (no RAM); the output comes from the entry registers (a Depth:1 mux), and
// in_ready_o / out_valid_o are flag flops, so it cuts every combinational path between its
// two sides.
// Latency: 1 cycle (a beat accepted at cycle t is offered at t+1).
// Throughput: one beat per cycle when Depth >= 2 (a push and a pop may happen in the same
//   cycle); Depth = 1 gives one beat every 2 cycles (no push while full).
// Back-pressure: accepted on the output (out_ready_i); applied on the input when full.
//   in_ready_o comes in ReadyN equal copies (the producer spreads its loads over them, see
//   below); a producer handshakes with any one of them.
// Reset: synchronous, active low (rst_ni held low for at least one clock edge).
module stream_fifo #(
  parameter int Width = 8,
  parameter int Depth = 2,
  parameter int ReadyN = 1
) (
  input  logic             clk_i,
  input  logic             rst_ni,
  input  logic             in_valid_i,
  output logic [ReadyN-1:0] in_ready_o,
  input  logic [Width-1:0] in_data_i,
  output logic             out_valid_o,
  input  logic             out_ready_i,
  output logic [Width-1:0] out_data_o
);

  localparam int PtrW = (Depth > 1) ? $clog2(Depth) : 1;
  localparam int CntW = $clog2(Depth + 1);
  localparam int LutMaxDepth = 64;

  logic [PtrW-1:0]  wr_ptr_q, rd_ptr_q;
  logic [CntW-1:0]  count_q, count_d;
  logic             push, pop, full_q, nonempty_q;
  logic             full_d, nonempty_d;

  // both flags are flops (not compares of count_q): in_ready_o and out_valid_o often steer a
  // neighbour's stall logic
  assign out_valid_o = nonempty_q;
  assign count_d     = count_q + CntW'(push) - CntW'(pop);
  assign push        = in_valid_i & ~full_q;
  assign pop         = out_valid_o & out_ready_i;
  // next flags from the flags, the handshakes and compares of count_q (not of count_d: no
  // adder behind them). A push never meets full_q (in_ready_o is ~full_q).
  assign full_d     = full_q ? !pop : (push && !pop && (count_q == CntW'(Depth - 1)));
  assign nonempty_d = nonempty_q ? !(pop && !push && (count_q == CntW'(1))) : push;

  // Timing: a producer with many stall copies (mvau) reads in_ready_o in dozens of LUTs spread
  // over its datapath; one full flag routed to all of them was the digits MLP's critical path
  // at target 16 on ECP5 (5.85 ns of routing). With ReadyN > 1 every in_ready_o bit is its own
  // flop (keep: same next value as full_q), full_q stays here for push, and copy k computes
  // its next value from itself as full_d does from full_q (while it is clear, full_q is clear
  // and push = in_valid_i), so each copy sits by its group of loads with one LUT before it.
  if (ReadyN == 1) begin : g_rdy1
    assign in_ready_o = ~full_q;
  end else begin : g_rdyn
    for (genvar k = 0; k < ReadyN; k++) begin : g_rdy
      (* keep *) logic fullk_q;
      logic fullk_d;
      assign fullk_d = fullk_q ? !pop : (in_valid_i && !pop && (count_q == CntW'(Depth - 1)));
      (* keep *) always_ff @(posedge clk_i) begin
        if (!rst_ni) begin
          fullk_q <= 1'b0;
        end else begin
          fullk_q <= fullk_d;
        end
      end
      assign in_ready_o[k] = ~fullk_q;
    end
  end

  // the read is asynchronous (out_data_o = entry rd_ptr_q): up to LutMaxDepth entries are LUT
  // RAM (on ECP5 a block RAM read would cost ~5.8 ns clock-to-out at the FIFO's output)
  if (Depth > 1 && Depth <= LutMaxDepth) begin : g_lut
    (* ram_style = "distributed" *)
    logic [Width-1:0] mem_q [Depth];
    assign out_data_o = mem_q[rd_ptr_q];
    always_ff @(posedge clk_i) begin
      if (push) mem_q[wr_ptr_q] <= in_data_i;
    end
  end else if (Depth > 1) begin : g_mem
    logic [Width-1:0] mem_q [Depth];
    assign out_data_o = mem_q[rd_ptr_q];
    always_ff @(posedge clk_i) begin
      if (push) mem_q[wr_ptr_q] <= in_data_i;
    end
  end else begin : g_reg
    logic [Width-1:0] data_q;   // a plain register (Icarus 11 mis-simulates a 1-entry array here)
    logic unused_ptr;
    assign unused_ptr = ^{wr_ptr_q, rd_ptr_q};
    assign out_data_o = data_q;
    always_ff @(posedge clk_i) begin
      if (push) data_q <= in_data_i;
    end
  end

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      wr_ptr_q <= '0;
      rd_ptr_q <= '0;
      count_q    <= '0;
      full_q     <= 1'b0;
      nonempty_q <= 1'b0;
    end else begin
      if (push) wr_ptr_q <= (wr_ptr_q == PtrW'(Depth - 1)) ? '0 : wr_ptr_q + 1'b1;
      if (pop)  rd_ptr_q <= (rd_ptr_q == PtrW'(Depth - 1)) ? '0 : rd_ptr_q + 1'b1;
      count_q    <= count_d;
      full_q     <= full_d;
      nonempty_q <= nonempty_d;
    end
  end

endmodule
