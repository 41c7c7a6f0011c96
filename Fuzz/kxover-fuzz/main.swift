@preconcurrency import Glibc
import KXFuzzChecks
import CFuzzDriver
import KXOver
import TLSPool

// One libFuzzer binary, several targets chosen by KXOVER_FUZZ_TARGET:
//   decoders  every DER decoder and the message inspector
//   framer    the TCP frame reader and the STARTTLS reply reader, bytes in random splits
//   dns       the rdata parsers (SRV, TLSA, A, AAAA, TXT) and the realm-name check
//   pioc      the TLS Pool's 388-byte PIOC record and every typed view of its payload
//   keeper    the privilege-separated keeper's request decoder, its frame reader and rules
// Each target also checks properties that must hold for any input (FuzzChecks, PIOCFuzz).

let targets: [String: ([UInt8]) -> Void] = [
    "decoders": FuzzChecks.decoders, "framer": FuzzChecks.framer, "dns": FuzzChecks.dnsRecords, "pioc": PIOCFuzz.record,
    "keeper": KeeperFuzz.request,
]
let target = getenv("KXOVER_FUZZ_TARGET").map { String(cString: $0) } ?? "decoders"
guard let selected = targets[target] else {
    fputs("unknown KXOVER_FUZZ_TARGET \(target) (\(targets.keys.sorted().joined(separator: ", ")))\n", stderr)
    exit(2)
}
nonisolated(unsafe) let check = selected

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    check(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
})
