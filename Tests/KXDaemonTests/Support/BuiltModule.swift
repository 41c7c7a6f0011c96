import Foundation

/// A krb5kdc module as krb5kdc loads it: dlopen'd from the build directory,
/// beside the test executable (`swift build --build-tests` builds it).
struct BuiltModule {
    let path: String
    let handle: UnsafeMutableRawPointer

    static func open(_ file: String) -> Result<BuiltModule, TestFailureText> {
        var exe = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &exe, exe.count - 1)
        let folder = n > 0 ? (cString(exe) as NSString).deletingLastPathComponent : "."
        let path = folder + "/" + file
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            return .failure(TestFailureText("dlopen \(path): \(String(cString: dlerror())) (swift build --build-tests builds it)"))
        }
        return .success(BuiltModule(path: path, handle: handle))
    }

    func symbol<T>(_ name: String, _ type: T.Type) -> T? {
        dlsym(handle, name).map { unsafeBitCast($0, to: type) }
    }
}

func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

struct TestFailureText: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
