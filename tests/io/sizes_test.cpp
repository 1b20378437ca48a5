// SPDX-License-Identifier: MIT
// Checked sizes and one-line message text: byte counts with overflow
// detection, the byte_budget refusal message, printable() escapes, npy_bytes' span check.
#include <cstdint>
#include <limits>

#include "io_test_util.hpp"

using gpsa::io::byte_budget;
using gpsa::io::checked_bytes;
using gpsa::io::printable;

namespace {
constexpr std::size_t k32 = std::size_t{1} << 32;
}

TEST(CheckedBytes, ProductsAndOverflow) {
  EXPECT_EQ(checked_bytes({}, 4), 4u);  // a scalar
  EXPECT_EQ(checked_bytes({2, 3, 4}, 8), 192u);
  EXPECT_EQ(checked_bytes({0, 3}, 4), 0u);
  EXPECT_EQ(checked_bytes({k32, k32 / 2}, 1), std::uint64_t{1} << 63);
  EXPECT_EQ(checked_bytes({k32, k32}, 1), std::nullopt);
  EXPECT_EQ(checked_bytes({k32, k32 / 4}, 4), std::nullopt);  // the count fits, the bytes do not
  // A zero dimension does not hide the others' overflow, whatever its position.
  EXPECT_EQ(checked_bytes({0, k32, k32}, 4), std::nullopt);
  EXPECT_EQ(checked_bytes({k32, k32, 0}, 4), std::nullopt);
  EXPECT_EQ(checked_bytes({k32, 0, k32}, 4), std::nullopt);
  EXPECT_EQ(checked_bytes({0, k32, 1}, 4), 0u);
  const std::vector<std::size_t> v{16384, 16384, 4};
  EXPECT_EQ(checked_bytes(v, 4), std::uint64_t{4} << 30);
}

TEST(ByteBudget, WithinTheLimit) {
  byte_budget b("--grid '14'", 1000);
  b.add("y", {2, 4, 16}, 4).add_bytes("scratch", 100);
  EXPECT_TRUE(b.ok());
  EXPECT_EQ(b.total(), 612u);
  EXPECT_EQ(b.message(), "");
  EXPECT_NO_THROW(b.require());
}

TEST(ByteBudget, OverTheLimitNamesSubjectBytesAndParts) {
  // forward --grid 1x16384 with H = 4: the attention alone is 4 GiB.
  byte_budget b("--grid '1x16384'");
  b.add("attn", {1, 4, 16384, 16384}, 4).add("y", {1, 16384, 16}, 4);
  EXPECT_FALSE(b.ok());
  EXPECT_EQ(b.total(), (std::uint64_t{4} << 30) + 16384 * 16 * 4);
  EXPECT_EQ(b.message(),
            "--grid '1x16384': needs 4296015872 bytes (4.0 GiB: attn (1,4,16384,16384) 4.0 GiB, "
            "y (1,16384,16) 1.0 MiB), over the 4.0 GiB limit");
  gpsa_test::expect_io_error([&] { b.require(); }, "--grid '1x16384'", {"needs 4296015872 bytes"});
}

TEST(ByteBudget, OverflowIsReportedNotWrapped) {
  byte_budget b("--grid '4294967296'");
  b.add("table", {k32, k32, 3}, 4).add("y", {1}, 4);
  EXPECT_TRUE(b.overflowed());
  EXPECT_FALSE(b.ok());
  EXPECT_EQ(b.total(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(b.message(),
            "--grid '4294967296': the size of table (4294967296,4294967296,3) x 4 bytes overflows "
            "64 bits (far over the 4.0 GiB limit)");
  byte_budget s("sum");
  s.add_bytes("a", std::numeric_limits<std::uint64_t>::max()).add_bytes("b", 1);
  EXPECT_TRUE(s.overflowed());
}

TEST(BytesText, Units) {
  EXPECT_EQ(gpsa::io::bytes_text(1), "1 byte");
  EXPECT_EQ(gpsa::io::bytes_text(1023), "1023 bytes");
  EXPECT_EQ(gpsa::io::bytes_text(1024), "1.0 KiB");
  EXPECT_EQ(gpsa::io::bytes_text(100'000'000), "95 MiB");
  EXPECT_EQ(gpsa::io::bytes_text(std::uint64_t{17} << 30), "17 GiB");
}

TEST(Printable, EscapesEverythingThatIsNotPlainText) {
  EXPECT_EQ(printable("blocks.0.attn.qk.weight"), "blocks.0.attn.qk.weight");
  EXPECT_EQ(printable("a\nb\rc\td\\e"), "a\\x0ab\\x0dc\\x09d\\x5ce");
  EXPECT_EQ(printable("evil\n\x1b[31mred\x1b[0m"), "evil\\x0a\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(printable(std::string("<f4\0", 4)), "<f4\\x00");
  EXPECT_EQ(printable("\x7f"), "\\x7f");
  // Valid UTF-8 stays readable; bytes that are not UTF-8 are shown as \xNN.
  EXPECT_EQ(printable("Gewichte_\xc3\xa4_\xe6\x9d\x83\xe9\x87\x8d_\xf0\x9f\x98\x80"),
            "Gewichte_\xc3\xa4_\xe6\x9d\x83\xe9\x87\x8d_\xf0\x9f\x98\x80");
  EXPECT_EQ(printable("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(printable("\xc3"), "\\xc3");                             // truncated sequence
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // UTF-16 surrogate
  EXPECT_EQ(printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  // Valid UTF-8 that still acts on a terminal: C1 CSI, line separator, bidi override.
  EXPECT_EQ(printable("\xc2\x9b"
                      "2J"),
            "\\u009b2J");
  EXPECT_EQ(printable("a\xe2\x80\xa8"
                      "b"),
            "a\\u2028b");
  EXPECT_EQ(printable("x\xe2\x80\xaez"), "x\\u202ez");
}

TEST(Printable, CutsLongTextOnCharacterBoundaries) {
  EXPECT_EQ(printable(std::string(10, 'k'), 4), "kkkk...");
  EXPECT_EQ(printable("ab\ncd", 5), "ab...");    // "\x0a" (4 bytes) would not fit
  EXPECT_EQ(printable("a\xc3\xa4", 2), "a...");  // not half of the two-byte character
  EXPECT_EQ(printable(std::string(100000, 'k')).size(), 4096u + 3);
}

TEST(DisplayPath, EmptyPathIsNamed) {
  EXPECT_EQ(gpsa::io::display_path(""), "(empty path)");
  EXPECT_EQ(gpsa::io::display_path("out/y\n.npy"), "out/y\\x0a.npy");
}

TEST(NpyBytes, SpanMustHoldTheShape) {
  // npy_bytes once read past its buffer: shape {2^20} with a 4-float span.
  const std::vector<float> four(4, 1.0f);
  const std::vector<std::size_t> big{std::size_t{1} << 20};
  try {
    (void)gpsa::io::npy_bytes(big, four);
    ADD_FAILURE() << "no error";
  } catch (const gpsa::io::io_error& e) {
    EXPECT_STREQ(e.what(), "npy: shape (1048576,) holds 1048576 values but 4 were given");
  }
  const std::vector<std::size_t> two_two{2, 2};
  EXPECT_NO_THROW((void)gpsa::io::npy_bytes(two_two, four));
  const std::vector<std::size_t> five{5};
  EXPECT_THROW((void)gpsa::io::npy_bytes(five, four), gpsa::io::io_error);
  // Zeros and overflow: refused alike whatever the order.
  const std::vector<std::size_t> a{0, k32, k32}, b{k32, k32, 0};
  EXPECT_THROW((void)gpsa::io::npy_bytes(a, std::span<const float>()), gpsa::io::io_error);
  EXPECT_THROW((void)gpsa::io::npy_bytes(b, std::span<const float>()), gpsa::io::io_error);
  const std::vector<std::size_t> empty{0, 3};
  EXPECT_NO_THROW((void)gpsa::io::npy_bytes(empty, std::span<const float>()));
}
