require "vacation";
vacation :mime :days 14 text:
Content-Type: text/plain; charset=utf-8

Bin nicht da.
.
;
