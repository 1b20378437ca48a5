// SPDX-License-Identifier: MIT
// The positive control of the no-threads shim: a program that starts one thread.
#include <thread>

int main() {
  std::thread t([] {});
  t.join();
  return 0;
}
