require "reject";
discard;
reject "refused";
