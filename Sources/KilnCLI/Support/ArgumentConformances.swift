public import ArgumentParser
public import KilnCompiler
public import KilnData
public import KilnDiagnostics

// Library enums that flags take; their raw values are the words users type.
extension DiagnosticFormat: ExpressibleByArgument {}
extension GraphFormat: ExpressibleByArgument {}
extension SourceFormat: ExpressibleByArgument {}
