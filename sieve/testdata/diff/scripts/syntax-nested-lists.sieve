# messages: m01-plain.eml m16-boss.eml
if anyof (allof (true, not false), anyof (false)) { discard; }
