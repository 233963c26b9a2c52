import CZlib

/// zlib, wrapped once and thinly: raw DEFLATE (RFC 1951, as zip entries hold it) and CRC-32.
enum Inflate {
    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Inflates raw DEFLATE data that should come to `expectedSize` bytes; refuses more than `limit`.
    static func raw(_ input: [UInt8], expectedSize: Int, limit: Int) throws(Failure) -> [UInt8] {
        guard expectedSize >= 0, expectedSize <= limit else { throw Failure(description: "entry of \(expectedSize) bytes is over the limit") }
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(description: "inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var source = input
        var output = [UInt8](repeating: 0, count: max(expectedSize, 1))
        var produced = 0
        let status: Int32 = source.withUnsafeMutableBufferPointer { src in
            stream.next_in = src.baseAddress
            stream.avail_in = uInt(src.count)
            var result: Int32 = Z_OK
            // Bounded: each round either fills the output (which then grows, up to the limit) or ends.
            for _ in 0..<64 {
                if produced == output.count {
                    guard output.count < limit else { return Z_BUF_ERROR }
                    output.append(contentsOf: [UInt8](repeating: 0, count: min(output.count, limit - output.count)))
                }
                result = output.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress! + produced
                    stream.avail_out = uInt(out.count - produced)
                    let r = inflate(&stream, Z_NO_FLUSH)
                    produced = out.count - Int(stream.avail_out)
                    return r
                }
                if result != Z_OK { break }
                if stream.avail_in == 0 && produced < output.count { break }
            }
            return result
        }
        guard status == Z_STREAM_END else { throw Failure(description: "inflate stopped with status \(status)") }
        guard produced == expectedSize else { throw Failure(description: "inflated \(produced) bytes, expected \(expectedSize)") }
        return Array(output.prefix(produced))
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { b in UInt32(CZlib.crc32(0, b.baseAddress, uInt(b.count))) }
    }
}
