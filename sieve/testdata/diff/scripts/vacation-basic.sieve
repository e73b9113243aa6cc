require "vacation";
vacation "I'm away until Monday.";
