require "vacation";
vacation "one";
vacation :handle "h2" "two";
