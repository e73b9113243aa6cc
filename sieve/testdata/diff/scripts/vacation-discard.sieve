require "vacation";
vacation "away";
discard;
