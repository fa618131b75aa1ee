import Foundation
import KilnProtocol

/// libFuzzer entry for inference request bodies: arbitrary bytes through `decodeRequest` (the fast strict
/// reader, then the explaining one for anything it refuses). Every input must end in a request or a
/// `Failure` with a 4xx status: no crash (no overflowing shape or conversion), no hang, no read out of
/// bounds (ASan). A decoded request's shapes must account for exactly its elements.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Data(bytes: data, count: size)
    do {
        let request = try InferenceProtocol.decodeRequest(body)
        for input in request.inputs {
            var product = 1
            for d in input.shape {
                let (p, overflow) = product.multipliedReportingOverflow(by: d)
                precondition(!overflow && d >= 0, "a decoded shape overflows")
                product = p
            }
            precondition(product == input.data.count, "a decoded shape does not match its data")
        }
    } catch {
        precondition((400..<500).contains(error.status), "a request body gave status \(error.status)")
    }
    return 0
}
