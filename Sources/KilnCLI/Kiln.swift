public struct Kiln { public static func main() {} }
