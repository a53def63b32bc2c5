// delay_line: Depth enabled registers in a row (fastinference), for pipeline balancing.
//
// Data layout: d_i is Width bits; q_o is d_i as it was Depth enabled cycles ago (Depth = 0: a
// wire). Throughput: one word a cycle. Latency: Depth cycles, every register loaded only when
// en_i is high (while en_i is low the line holds). No reset: datapath registers only (rst_ni
// is unused; it is a port so every block is wired alike).
module delay_line #(
  parameter int Width = 8,
  parameter int Depth = 1   // at least 0
) (
  input  logic             clk_i,
  input  logic             rst_ni,
  input  logic             en_i,
  input  logic [Width-1:0] d_i,
  output logic [Width-1:0] q_o
);

  logic unused_rst;
  assign unused_rst = rst_ni;

  if (Depth == 0) begin : g_wire
    logic unused_en;
    assign unused_en = en_i ^ clk_i;   // no register: clock and enable unused
    assign q_o = d_i;
  end else begin : g_regs
    // stage i (i cycles after the first register) at [i*Width +: Width]
    logic [Depth*Width-1:0] d_q;
    if (Depth == 1) begin : g_one
      always_ff @(posedge clk_i) begin
        if (en_i) d_q <= d_i;
      end
    end else begin : g_more
      always_ff @(posedge clk_i) begin
        if (en_i) d_q <= {d_q[(Depth-1)*Width-1:0], d_i};
      end
    end
    assign q_o = d_q[(Depth-1)*Width +: Width];
  end

endmodule
