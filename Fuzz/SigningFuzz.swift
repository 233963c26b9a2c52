import CashierCore

/// libFuzzer entry: the request and response canonicalizers and verification over arbitrary fields.
///
/// The input is split at 0x00 bytes into method, path, query, nonce, device id, timestamp, signature
/// and body; every field may be any bytes. Nothing may trap, a signature must verify against its own
/// canonical form, and a different body must not verify.
@_cdecl("LLVMFuzzerTestOneInput")
public func signingFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    var fields = bytes.split(separator: 0, maxSplits: 7, omittingEmptySubsequences: false).map { Array($0) }
    while fields.count < 8 { fields.append([]) }
    func text(_ i: Int) -> String { String(decoding: fields[i], as: UTF8.self) }
    let queryPairs: [(String, String)] = text(2).split(separator: "&", omittingEmptySubsequences: false).map { pair in
        let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        return (String(kv[0]), kv.count > 1 ? String(kv[1]) : "")
    }
    // Timestamps from the input, including the extremes a header can carry.
    let timestamp = Int64(text(5)) ?? fields[5].reduce(Int64(0)) { ($0 << 8) | Int64($1) }
    let key = Array(fields[4].prefix(64))
    let request = RequestToSign(method: text(0), path: text(1), query: queryPairs, timestamp: timestamp,
                                nonce: text(3), deviceID: text(4), body: fields[7])
    let signature = Signing.sign(request, key: key)
    precondition(Signing.verify(request, signature: signature, key: key), "a request does not verify with its own signature")
    _ = Signing.verify(request, signature: text(6), key: key)
    var altered = request
    altered.body.append(1)
    precondition(!Signing.verify(altered, signature: signature, key: key), "a changed body still verifies")

    let response = ResponseToSign(status: Int(truncatingIfNeeded: timestamp), requestMethod: text(0), requestPath: text(1),
                                  requestNonce: text(3), timestamp: timestamp, deviceID: text(4), body: fields[7])
    let responseSignature = Signing.sign(response, key: key)
    precondition(Signing.verify(response, signature: responseSignature, key: key), "a response does not verify")
    _ = Signing.verify(response, signature: text(6), key: key)

    _ = Signing.canonicalQuery(queryPairs)
    _ = Signing.isValidNonce(text(3))
    _ = Signing.isValidDeviceID(text(4))
    _ = Signing.activationKey(code: text(3))
    // Freshness is checked against the service clock with a timestamp straight from a header.
    _ = Signing.isFresh(timestamp: timestamp, now: 1_764_000_000)
    return 0
}
