// adder_tree: sum of N W-bit two's complement operands as a balanced binary tree
// (fastinference). Purely combinational (latency 0); recursive instantiation, halves at
// each level, depth ceil(log2(N)). Operand i at in_i[i*W +: W]; the sum wraps at W bits.
module adder_tree #(
  parameter int N = 4,
  parameter int W = 8
) (
  input  logic [N*W-1:0] in_i,
  output logic [W-1:0]   sum_o
);

  if (N == 1) begin : g_leaf
    assign sum_o = in_i;
  end else begin : g_node
    localparam int H = N / 2;
    logic [W-1:0] sum_lo, sum_hi;
    adder_tree #(.N(H), .W(W)) u_lo (
      .in_i  (in_i[H*W-1:0]),
      .sum_o (sum_lo)
    );
    adder_tree #(.N(N - H), .W(W)) u_hi (
      .in_i  (in_i[N*W-1:H*W]),
      .sum_o (sum_hi)
    );
    assign sum_o = sum_lo + sum_hi;
  end

endmodule
