// mvau_xnsel: one channel's 3:2 counts of all its input triples in the fully parallel XNOR mvau
// (fastinference; mvau.sv with SF = NF = 1 and +-1 weights on bits, XnConst).
//
// The mvau registers, once per input triple and shared by every channel, the majority of
// x ^ c for each of the 8 inversion patterns c (maj_i[g*8 + c]) and the parity of x in both
// polarities (par_i[g*2 +: 2] = {~parity(x), parity(x)}). A channel's count of xnor(x, w) over
// triple g is {maj(x ^ c), parity(x) ^ parity(c)} with c = ~w (pad lanes: c = 0), so this
// module is a select by c per triple. w_i is a constant once synthesis has folded the weight
// word: each select is plain wiring, no LUT.
//
// Why one module per channel over all its triples: fastinference synth flattens it
// (synth.FLATTEN_CELLS), and Yosys elaborates it once per parameter set (the weights are a
// port, not a parameter), so the selects cost nothing per channel in the front end. Inline in
// mvau's per-channel loop the select was a shift over all triples' counts per triple (about a
// second of elaboration per channel); one instance per triple still cost Yosys' hierarchy
// about 0.27 CPU s per channel (PE 256 x 43 triples: 11,008 instances). One process over all
// triples (Icarus: one write of cnt_o), each select from its own triple's 8 (2) bits.
// Purely combinational; cnt_o[g*2 +: 2] = {carry, sum} of triple g's count.
module mvau_xnsel #(
  parameter int N    = 1,   // triples
  parameter int SIMD = 3    // lanes (3N - 2 .. 3N: the last triple's missing lanes are pads)
) (
  input  logic [N*8-1:0]  maj_i,   // maj(x ^ c) for triple g, c = 0..7, at [g*8 + c]
  input  logic [N*2-1:0]  par_i,   // {~parity(x), parity(x)} for triple g at [g*2 +: 2]
  input  logic [SIMD-1:0] w_i,     // lane weights, 1 = +1 (a constant in synthesis)
  output logic [N*2-1:0]  cnt_o    // the count of xnor(x, w) over triple g, 0..3, at [g*2 +: 2]
);

  // c = ~w, 0 in the pad lanes (the pad input is 1 and its weight 0: xnor 0, see mvau g_pad)
  // (~ after the size cast: a cast extends its operand first, so (n)'(~w) has ones there)
  localparam logic [3*N-1:0] PadM = ~((3*N)'({SIMD{1'b1}}));
  logic [3*N-1:0] cs;
  assign cs = ~((3*N)'(w_i) | PadM);

  always_comb begin : p_sel
    logic [2:0]     c3;
    logic [7:0]     m8;
    logic [1:0]     p2;
    logic [N*2-1:0] cv;
    for (int g = 0; g < N; g++) begin
      c3 = cs[3*g +: 3];
      m8 = maj_i[g*8 +: 8];
      p2 = par_i[g*2 +: 2];
      cv[g*2 +: 2] = {m8[c3], p2[^c3]};
    end
    cnt_o = cv;
  end

endmodule
