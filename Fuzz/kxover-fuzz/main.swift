@preconcurrency import Glibc
import CFuzzDriver
import KXOver

// One libFuzzer binary, several targets chosen by KXOVER_FUZZ_TARGET:
//   decoders  every DER decoder and the message inspector
//   framer    the TCP frame reader and the STARTTLS reply reader, bytes in random splits
// Each target also checks properties that must hold for any input (FuzzChecks).

let target = getenv("KXOVER_FUZZ_TARGET").map { String(cString: $0) } ?? "decoders"
guard target == "decoders" || target == "framer" else {
    fputs("unknown KXOVER_FUZZ_TARGET \(target)\n", stderr)
    exit(2)
}
nonisolated(unsafe) var framerSelected = target == "framer"

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if framerSelected { FuzzChecks.framer(bytes) } else { FuzzChecks.decoders(bytes) }
    return 0
})
