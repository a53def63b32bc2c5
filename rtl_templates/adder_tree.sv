// adder_tree: sum of N operands of InW bits into OutW bits (two's complement, wraps at OutW)
// (fastinference). Operand i at in_i[i*InW +: InW], sign-extended if Signed, else
// zero-extended (InW = 1, Signed = 0 makes it a popcount).
// Purely combinational (latency 0): a balanced binary tree of recursive instances whose leaves
// sum up to LeafN operands each (a short chain), depth about log2(N/LeafN) + LeafN.
module adder_tree #(
  parameter int N      = 4,
  parameter int InW    = 8,
  parameter int OutW   = 8,
  parameter bit Signed = 1'b1,
  parameter int LeafN  = 4
) (
  input  logic [N*InW-1:0] in_i,
  output logic [OutW-1:0]  sum_o
);

  if (N == 1) begin : g_one
    if (OutW > InW) begin : g_ext
      assign sum_o = {{(OutW-InW){Signed & in_i[InW-1]}}, in_i};
    end else begin : g_same
      assign sum_o = in_i[OutW-1:0];
    end
  end else if (N <= LeafN) begin : g_leaf
    function automatic logic [OutW-1:0] leaf_sum(input logic [N*InW-1:0] v);
      logic [OutW-1:0] acc, ext;
      logic [InW-1:0]  e;
      acc = '0;
      for (int i = 0; i < N; i++) begin
        e   = v[i*InW +: InW];
        ext = {OutW{Signed & e[InW-1]}};
        ext[InW-1:0] = e;
        acc = acc + ext;
      end
      leaf_sum = acc;
    endfunction
    assign sum_o = leaf_sum(in_i);
  end else begin : g_node
    localparam int H = N / 2;
    logic [OutW-1:0] sum_lo, sum_hi;
    adder_tree #(.N(H), .InW(InW), .OutW(OutW), .Signed(Signed), .LeafN(LeafN)) u_lo (
      .in_i  (in_i[H*InW-1:0]),
      .sum_o (sum_lo)
    );
    adder_tree #(.N(N - H), .InW(InW), .OutW(OutW), .Signed(Signed), .LeafN(LeafN)) u_hi (
      .in_i  (in_i[N*InW-1:H*InW]),
      .sum_o (sum_hi)
    );
    assign sum_o = sum_lo + sum_hi;
  end

endmodule
