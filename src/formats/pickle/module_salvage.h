// Recovers a state_dict from a whole pickled nn.Module (torch.save(model)), read with
// UnpickleOptions::salvage, without running any of its code.
//
// A salvaged module is Dict{"__class__": "module.Name", "__args__": (), "__state__":
// <its __dict__>}, whose state holds "_parameters" and "_buffers" (OrderedDicts of
// tensors or None), "_non_persistent_buffers_set" (a set, read as a list of names) and
// "_modules" (an OrderedDict of salvaged submodules or None). The state_dict is what
// model.state_dict() would give: each module's parameters, then its persistent buffers,
// then its submodules' entries under "<name>.", detached, with "_metadata" recording
// each module's version.
#pragma once

#include "mnemo/core/state_dict.h"
#include "mnemo/core/value.h"

namespace mnemo::pickle {

// Throws kInvalidArgument when `object` (or a submodule in it) is not a salvaged module.
StateDict salvage_state_dict(const Value& object);

}  // namespace mnemo::pickle
