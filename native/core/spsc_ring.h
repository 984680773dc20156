// The name C++ peers included before the message-ring headers were split
// (README: "From C++"); it still brings everything, through msgring.h.
#pragma once

#include "msgring.h"
