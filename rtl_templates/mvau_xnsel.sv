// mvau_xnsel: one channel's 3:2 count of one input triple in the fully parallel XNOR mvau
// (fastinference; mvau.sv with SF = NF = 1 and +-1 weights on bits, XnConst).
//
// The mvau registers, once per input triple and shared by every channel, the majority of
// x ^ c for each of the 8 inversion patterns c (maj_i[c]) and the parity of x in both
// polarities (par_i = {~parity(x), parity(x)}). A channel's count of xnor(x, w) over the triple
// is {maj(x ^ c), parity(x) ^ parity(c)} with c = ~w (pad lanes: c = 0), so this module is a
// select by c_i. c_i is a constant once synthesis has folded the weight word: the select is
// plain wiring, no LUT.
//
// Why a module: fastinference synth flattens it (synth.FLATTEN_CELLS), so Yosys elaborates one
// small module once and instantiates it per channel and triple. The same select written inline
// in mvau's per-channel loop was a shift over all triples' counts per triple, about a second
// of Yosys elaboration per channel (PE 256: minutes) before synthesis folded it away.
// Purely combinational; cnt_o = {carry, sum} of the triple's count.
module mvau_xnsel (
  input  logic [7:0] maj_i,   // maj(x ^ c) for c = 0..7
  input  logic [1:0] par_i,   // {~parity(x), parity(x)}
  input  logic [2:0] c_i,     // this channel's inversion pattern ~w (a constant in synthesis)
  output logic [1:0] cnt_o    // the count of xnor(x, w) over the triple, 0..3
);

  assign cnt_o = {maj_i[c_i], par_i[^c_i]};

endmodule
