import KXKDB
import KXOver

/// A realm's KDB as the daemon uses it: kadm5 in this process
/// (KadmKeyStore, `privsep = false`), or the keeper over its channel
/// (ChannelKeyStore, the engine of a privilege-separated kxoverd).
public protocol RealmKeyStore: KeyStore, KeyMaintenanceStore {
    var configuration: KadminConfiguration { get }
    /// Receives lines for the log about work done late (pending undos).
    func onNotice(_ handler: @escaping (String) -> Void)
    /// Lets work in progress finish, up to `timeout` seconds.
    @discardableResult func close(timeout: Double) -> Bool
}

extension KadmKeyStore: RealmKeyStore {}
