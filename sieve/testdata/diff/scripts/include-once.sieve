require ["include"];
include :once "common";
include :once "common";
include :optional "does-not-exist";
