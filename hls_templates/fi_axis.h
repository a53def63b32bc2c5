// fi_axis.h: a minimal hls::axis (the AXI4-Stream word with side channels) for C simulation
// with a plain C++ compiler when Xilinx's ap_axi_sdata.h is not available. Part of
// fastinference (MIT). Never used under __SYNTHESIS__.
//
// The fields a core of fastinference uses are named as in ap_axi_sdata.h, so the same code
// compiles against either header: data (TDATA), keep (TKEEP) and strb (TSTRB), one bit per
// byte of data, last (TLAST). TUSER, TID and TDEST have width 0 (the only form supported here).
#ifndef FI_AXIS_H
#define FI_AXIS_H

#include <cstddef>

#include <ap_int.h>

namespace hls {

template <typename TData, std::size_t WUser, std::size_t WId, std::size_t WDest>
struct axis;

// hls::axis<ap_uint<W>, 0, 0, 0>: TDATA of W bits (a multiple of 8) with TKEEP, TSTRB, TLAST
template <int W>
struct axis<ap_uint<W>, 0, 0, 0> {
  static_assert(W % 8 == 0, "AXI4-Stream TDATA is a whole number of bytes");
  ap_uint<W> data;
  ap_uint<W / 8> keep;
  ap_uint<W / 8> strb;
  ap_uint<1> last;
  axis() : data(0), keep(0), strb(0), last(0) {}
};

}  // namespace hls

#endif  // FI_AXIS_H
