// flop_copies: one register kept in Copies separate copies, for fan-out (fastinference).
//
// A net that enables or selects hundreds of flops or LUTs routes slowly on an FPGA (ECP5: 4-5
// ns of routing at a few hundred loads). The fix is to register its next value in several
// flops with the same D and give each a group of the loads. Yosys' opt_merge merges flops with
// equal D, clock, enable and reset into one, so every copy is marked keep: that is the one
// rule this module states, once.
//
// Data layout: d_i is Width bits; copy c is q_o[c*Width +: Width]. Throughput: one word a
// cycle. Latency: 1 cycle; a copy loads d_i when en_i is high. Reset: synchronous, active low;
// with HasReset every copy resets to ResetVal, without it rst_ni is unused (datapath copies).
module flop_copies #(
  parameter int               Width    = 1,
  parameter int               Copies   = 1,
  parameter bit               HasReset = 1'b1,
  parameter logic [Width-1:0] ResetVal = '0
) (
  input  logic                    clk_i,
  input  logic                    rst_ni,
  input  logic                    en_i,
  input  logic [Width-1:0]        d_i,
  output logic [Copies*Width-1:0] q_o
);

  for (genvar c = 0; c < Copies; c++) begin : g_copy
    (* keep *) logic [Width-1:0] q_q;
    if (HasReset) begin : g_rst
      (* keep *) always_ff @(posedge clk_i) begin
        if (!rst_ni) begin
          q_q <= ResetVal;
        end else if (en_i) begin
          q_q <= d_i;
        end
      end
    end else begin : g_norst
      (* keep *) always_ff @(posedge clk_i) begin
        if (en_i) q_q <= d_i;
      end
    end
    assign q_o[c*Width +: Width] = q_q;
  end

  if (!HasReset) begin : g_unused
    logic unused_rst;
    assign unused_rst = rst_ni;
  end

endmodule
