/// The version of kiln; part of every node fingerprint, so a new kiln recomputes what it must.
public enum KilnVersion {
    public static let string = "0.1.0"
}
