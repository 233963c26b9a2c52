import CashierChannels
import CashierCore
import CashierStorage

extension CashierService {
    /// The channel that takes `code` for the store. A code of no channel is `PAYMENT_CODE_INVALID`, a
    /// code of a channel the store does not take (or whose settings cannot be used) `CHANNEL_NOT_CONFIGURED`:
    /// both before anything is sent anywhere.
    func channel(forCode code: String, store: StoreRecord, now: Int64) throws -> PaymentChannel {
        guard let kind = ChannelKind(paymentCode: code) else {
            let forms = ChannelKind.allCases.map { "\($0.displayName): \($0.codeForm)" }.joined(separator: "; ")
            throw Refusal(.paymentCodeInvalid, "not a payment code of any channel (\(forms))")
        }
        return try channel(kind, storeID: store.id, now: now)
    }

    /// The channel an order's payment went to, named by its payment code.
    func channel(of order: OrderRecord, now: Int64) throws -> PaymentChannel {
        guard let code = order.paymentCode, let kind = ChannelKind(paymentCode: code) else {
            throw Refusal(.channelNotConfigured, "order \(order.orderNo) has no payment code of a known channel")
        }
        return try channel(kind, storeID: order.storeID, now: now)
    }

    func channel(_ kind: ChannelKind, storeID: String, now: Int64) throws -> PaymentChannel {
        do {
            guard let channel = try channels.channel(kind, storeID: storeID, now: now) else {
                throw Refusal(.channelNotConfigured, "this store does not take \(kind.displayName) codes")
            }
            return channel
        } catch let problem as ChannelRegistry.ChannelSetupError {
            metrics.increment("cashierd_channel_setup_errors_total", [("channel", kind.rawValue)])
            throw Refusal(.channelNotConfigured, problem.description)
        }
    }
}
