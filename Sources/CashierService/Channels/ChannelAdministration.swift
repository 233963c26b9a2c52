import CashierChannels
import CashierCore
import CashierStorage
import Foundation

extension Administration {
    /// `cashierd channel sign`: the string a WeChat Pay signature is made over (the key masked) and the
    /// signature, for `k=v` lines — what the provider's own signature-checking tool shows, to debug a
    /// merchant's set-up. Blank lines and lines starting `#` are skipped; a line without `=` is refused.
    public static func explainWeChatPaySignature(lines: [String], key: String, signType: String) throws -> (signed: String, sign: String) {
        guard let type = WeChatPaySignType(rawValue: signType) else { throw RuntimeError("--sign-type is MD5 or HMAC-SHA256") }
        guard !key.isEmpty else { throw RuntimeError("the API key is empty") }
        var parameters: [(String, String)] = []
        for (n, line) in lines.enumerated() {
            let text = line.trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
            if text.trimmingCharacters(in: .whitespaces).isEmpty || text.hasPrefix("#") { continue }
            guard let eq = text.firstIndex(of: "=") else { throw RuntimeError("line \(n + 1) is not k=v: \(text)") }
            parameters.append((String(text[..<eq]), String(text[text.index(after: eq)...])))
        }
        let explained = WeChatPaySignature.explain(parameters: parameters, key: key, signType: type)
        return (explained.stringSignTemp, explained.sign)
    }

    /// What `cashierd channel check` found for one of a store's channels.
    public struct ChannelCheck: Sendable {
        public var channel: String
        public var ok: Bool
        public var finding: String
    }

    /// `cashierd channel check --store S`: for each channel the store takes (or the one named), builds its
    /// adapter from the store's settings and asks the provider about an order that cannot exist — the
    /// cheapest call that proves the credentials (the provider must answer, signed, "no such order").
    public static func checkChannels(runtime: ServiceRuntime, storeID: String, channel only: ChannelKind?, now: Int64) throws -> [ChannelCheck] {
        guard try runtime.base.store(id: storeID) != nil else { throw RuntimeError("no store \(storeID)") }
        let records = try runtime.base.storeChannels(storeID: storeID).filter { only == nil || $0.channel == only?.rawValue }
        if records.isEmpty {
            throw RuntimeError(only.map { "store \(storeID) does not take \($0.rawValue)" } ?? "store \(storeID) takes no channel")
        }
        let factories = ServiceRuntime.channelFactories(sandbox: runtime.sandbox)
        let probeNumber = OrderNumber(epochSeconds: now / 1_000, instance: 999, sequence: 99_999, group: GroupTag(99)!).digits
        return records.map { record in
            guard let kind = ChannelKind(rawValue: record.channel), let factory = factories[kind] else {
                return ChannelCheck(channel: record.channel, ok: false, finding: "this service has no adapter for it")
            }
            let adapter: PaymentChannel
            do { adapter = try factory(record.settings) } catch {
                return ChannelCheck(channel: record.channel, ok: false, finding: "the settings cannot be used: \(error)")
            }
            do {
                let state = try adapter.query(outTradeNo: probeNumber, now: now)
                if state == .notFound {
                    return ChannelCheck(channel: record.channel, ok: true,
                                        finding: "the provider answered that order \(probeNumber) does not exist: the credentials work")
                }
                return ChannelCheck(channel: record.channel, ok: false, finding: "the provider answered \(state) for an order that cannot exist")
            } catch let error as ChannelError {
                let why: String
                switch error.kind {
                case .noAnswer: why = "the provider could not be reached (network, DNS, endpoint URLs, CA)"
                case .unverifiedAnswer: why = "the provider's answers fail verification (API key / provider public key wrong?)"
                case .refused: why = "the provider refused the call (merchant id, app id, key or certificate wrong?)"
                case .notYet: why = "the provider asks to try later"
                }
                return ChannelCheck(channel: record.channel, ok: false, finding: "\(why): \(error.detail)")
            } catch {
                return ChannelCheck(channel: record.channel, ok: false, finding: "\(error)")
            }
        }
    }
}
